"""Property test over the loader and check: any text gives exit 0, 1, 2 or 4 (unchecked) and JSON, never an exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuconf.cli import main
from tests.test_inputs_catalogue import copy_manifest_root

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
BASES = [
    (MANIFESTS / n).read_text(encoding="utf-8")
    for n in ("raycluster.yaml", "serve-config.yaml", "rayservice.yaml", "expectations.yaml")
]
NODES = (MANIFESTS / "nodes" / "gpu-pool.yaml").read_text(encoding="utf-8")

# Values that have crashed loaders before: odd scalars, YAML syntax, special floats, huge numbers.
SCALARS = st.sampled_from(
    [
        ".inf",
        "-.inf",
        ".nan",
        "-1",
        "0",
        "1e400",
        "99999999999999999999",
        '"x"',
        "true",
        "null",
        "[]",
        "{}",
        "[a, [b]]",
        "{a: {b: c}}",
        "&a x",
        "*a",
        "!!binary aGk=",
        "'",
        '"',
        "{{ .Values.x }}",
        "? [a]\n: b",
        "|",
        ">-",
        "- a",
        "~",
        "0x1F",
        "1_000",
        "2026-01-01",
        "$(whoami)",
        "`id`",
        "${HOME}",
        "\t",
        "\\u0000",
        "é",
    ]
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    """A shipped manifest with a few values swapped, lines dropped or duplicated; and which one."""
    which = draw(st.sampled_from(["manifest", "nodes"]))
    text = NODES if which == "nodes" else draw(st.sampled_from(BASES))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "drop", "dup", "indent", "raw"]))
        if op == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {draw(SCALARS)}"
        elif op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 7)) + lines[i].lstrip()
        else:
            lines.insert(i, draw(st.text(max_size=30)))
        if not lines:
            lines = [""]
    return which, "\n".join(lines) + "\n"


# The fields of a RayCluster's head group and worker groups outside the pod template (KubeRay
# v1.5.0 CRD), and values of every YAML shape for them: wrong types, lists, null, nesting.
GROUP_FIELDS = st.sampled_from(
    [
        "labels",
        "resources",
        "rayStartParams",
        "replicas",
        "minReplicas",
        "maxReplicas",
        "numOfHosts",
        "groupName",
        "idleTimeoutSeconds",
        "suspend",
        "scaleStrategy",
        "serviceType",
        "enableIngress",
        "template",
    ]
)
GROUP_VALUES = st.one_of(
    SCALARS,
    st.sampled_from(["[a, b]", "[[1]]", "[{a: 1}]", "{a: [1]}", "{a: null}", "{a: {b: c}}", "{1: 2}", "{a: 1.5}"]),
    st.sampled_from(["{a: 1, b: x}", '{"num-gpus": 1}', "{GPU: 1}", "{a: true}", "{workersToDelete: 5}", "[]"]),
)
CLUSTER = BASES[0]


@st.composite
def group_field(draw: st.DrawFn) -> str:
    """The reference RayCluster with one field of the head or a worker group set to an odd value."""
    field_, value = draw(GROUP_FIELDS), draw(GROUP_VALUES)
    if "\n" in value:
        value = "{}"  # a block value would not sit on the key's line
    lines = CLUSTER.splitlines()
    head = lines.index("  headGroupSpec:")
    groups = [i for i, ln in enumerate(lines) if ln.startswith("    - groupName:")]
    at = draw(st.sampled_from([head, *groups]))
    indent = "    " if at == head else "      "
    # Drop the field where the group has it (with its block), then write it anew.
    end = next((i for i in range(at + 1, len(lines)) if not lines[i].startswith(indent)), len(lines))
    block = [i for i in range(at + 1, end) if lines[i].startswith(indent + field_ + ":")]
    if block:
        stop = block[0] + 1
        while stop < end and lines[stop].startswith(indent + " "):
            stop += 1
        del lines[block[0] : stop]
    if field_ == "groupName" and at != head:
        lines[at] = f"    - groupName: {value}"
    else:
        lines.insert(at + 1, f"{indent}{field_}: {value}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped manifest root."""
    return copy_manifest_root(tmp_path_factory.mktemp("root"))


def _check(root: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["check", "--format", "json", *args])
    data = json.loads(capsys.readouterr().out)
    assert rc in (0, 1, 2, 4)
    assert data["verdict"] == {0: "pass", 1: "fail", 2: "error", 4: "unchecked"}[rc]
    if rc == 2:
        assert data["error"]["message"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=group_field())
def test_group_level_fields_of_any_shape_exit_0_1_or_2_with_file_line_and_fix(
    text: str, root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group's labels, resources, rayStartParams, replicas... as lists, null, mappings or odd
    scalars never raise; a refusal names the file, the line and the fix."""
    monkeypatch.chdir(root)
    (root / "case.yaml").write_text(text, encoding="utf-8")
    rc = main(["check", "--format", "json", "case.yaml", "serve-config.yaml"])
    data = json.loads(capsys.readouterr().out)
    assert rc in (0, 1, 2, 4), data
    if rc == 2:
        err = data["error"]
        assert err["file"] in ("case.yaml", "serve-config.yaml") and err["line"] >= 1 and err["fix"], err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mutated())
def test_mutated_manifests_exit_0_1_or_2(
    case: tuple[str, str], root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutations of the shipped manifests and node pool never raise; the JSON verdict matches the exit code."""
    which, text = case
    monkeypatch.chdir(root)
    (root / "case.yaml").write_text(text, encoding="utf-8")
    _check(root, [".", "--nodes", "case.yaml"] if which == "nodes" else ["case.yaml"], capsys)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(lambda s: s.encode("utf-8")))
def test_arbitrary_bytes_exit_0_1_or_2(
    data: bytes, root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arbitrary bytes as a manifest file never raise."""
    monkeypatch.chdir(root)
    (root / "case.yaml").write_bytes(data)
    _check(root, ["case.yaml"], capsys)
