"""The bad-input catalogue: generated malformed or hostile inputs, each exit 2 with file:line and a fix.

Every case runs `gpuconf check --format json` in-process on a copy of the shipped manifests with one
bad file, and asserts the exit code, the file, the line and a piece of the fix text. No case may
raise, pass, or fail as a conformance finding.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gpuconf.cli import main
from gpuconf.errors import (
    ApiServerRefusal,
    InputError,
    KubeRayRefusal,
    RayStartRefusal,
    ServeRefusal,
    YamlRefusal,
)
from gpuconf.inputs.limits import MAX_DEPTH, MAX_FILE_BYTES

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
CLUSTER = (MANIFESTS / "raycluster.yaml").read_text(encoding="utf-8")
SERVE = (MANIFESTS / "serve-config.yaml").read_text(encoding="utf-8")
NODES = (MANIFESTS / "nodes" / "gpu-pool.yaml").read_text(encoding="utf-8")
EXPECT = (MANIFESTS / "expectations.yaml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Case:
    """One bad input: what to write, how to call check, and where the error must point."""

    id: str
    content: bytes | str | None  # None: the case builds the path itself (FIFO, device, folder)
    fix: str  # a piece of the fix text (case-insensitive)
    line: int | str = 1  # the line number, or a substring: the first line that holds it
    option: str | None = None  # pass the file as --nodes/--expect instead of a path
    path: Callable[[Path], Path] | None = None  # builds a special path
    file: str | None = "case.yaml"  # the file the error must name (None: no file)


def _swap(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _line_of(content: str, needle: str) -> int:
    return next(i for i, ln in enumerate(content.splitlines(), 1) if needle in ln)


def _cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    # --- encodings and bytes -------------------------------------------------------------------
    for n in range(1, 6):
        lines = CLUSTER.encode().splitlines(keepends=True)
        lines[n - 1] = lines[n - 1].rstrip(b"\n") + b" # caf\xe9\n"
        add(Case(f"latin1-byte-line-{n}", b"".join(lines), "utf-8", n))
    add(Case("utf16-le-bom", CLUSTER.encode("utf-16"), "iconv"))
    add(Case("utf16-be-bom", b"\xfe\xff" + CLUSTER.encode("utf-16-be"), "iconv"))
    add(Case("utf16-le-no-bom", CLUSTER.encode("utf-16-le"), "iconv"))
    add(Case("utf32", CLUSTER.encode("utf-32"), "iconv"))
    add(Case("nul-byte", CLUSTER.replace("metadata:", "metadata:\x00", 1), "yaml text", "metadata:"))
    add(Case("binary-garbage", bytes(range(256)) * 4, "iconv"))
    # --- not regular files, empty inputs -------------------------------------------------------
    add(Case("fifo", None, "regular yaml file", path=lambda d: _fifo(d / "case.yaml")))
    add(Case("dev-null", None, "regular yaml file", path=lambda d: Path("/dev/null"), file="/dev/null"))
    add(Case("dev-zero", None, "regular yaml file", path=lambda d: Path("/dev/zero"), file="/dev/zero"))
    add(Case("empty-file", "", "pass a file with"))
    add(Case("whitespace-only", "\n\n   \n", "pass a file with"))
    add(Case("comment-only", "# nothing here\n", "pass a file with"))
    add(Case("separators-only", "---\n---\n", "pass a file with"))
    add(Case("empty-folder", None, "folder with .yaml", path=lambda d: _mkdir(d / "empty"), file="empty"))
    add(Case("folder-no-yaml", None, "folder with .yaml", path=lambda d: _mkdir(d / "txt", "notes.txt"), file="txt"))
    add(Case("empty-nodes", "", "pass a file with", option="--nodes"))
    add(Case("empty-expect", "", "pass a file with", option="--expect"))
    add(Case("comment-only-nodes", "# no nodes\n", "pass a file with", option="--nodes"))
    add(Case("nodes-hold-a-raycluster", CLUSTER, "node objects only", "kind: RayCluster", option="--nodes"))
    add(Case("expect-holds-a-node", NODES, "expectations objects only", "kind: Node", option="--expect"))
    add(
        Case(
            "nodes-list-with-raycluster",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: ray.io/v1\n"
            "  kind: RayCluster\n  metadata: {name: x}\n  spec: {}\n",
            "node objects only",
            5,
            option="--nodes",
        )
    )
    add(Case("empty-node-list", "apiVersion: v1\nkind: List\nitems: []\n", "pass a file with", option="--nodes"))
    # --- YAML syntax ---------------------------------------------------------------------------
    add(
        Case(
            "bad-indent",
            _swap(CLUSTER, "  name: ml-cluster", "  name: ml-cluster\n   spec: {}"),
            "indentation",
            "   spec: {}",
        )
    )
    add(Case("tab-indent", _swap(CLUSTER, "  name: ml-cluster", "\tname: ml-cluster"), "indentation", "\tname"))
    add(
        Case(
            "unclosed-quote", "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata:\n  name: 'ml-cluster\n", "quoting", 4
        )
    )
    add(Case("unclosed-flow", _swap(CLUSTER, "  name: ml-cluster", "  name: [ml-cluster"), "quoting", "name: ["))
    add(
        Case(
            "duplicate-key",
            _swap(CLUSTER, "  name: ml-cluster", "  name: ml-cluster\n  name: again"),
            "remove one",
            "name: again",
        )
    )
    add(Case("unknown-tag", _swap(CLUSTER, "  name: ml-cluster", "  name: !vault ml-cluster"), "quoting", "!vault"))
    add(Case("python-tag", "!!python/object/apply:os.system ['true']\n", "quoting"))
    add(Case("bad-anchor", _swap(CLUSTER, "  name: ml-cluster", "  name: *nowhere"), "quoting", "*nowhere"))
    # --- nesting, aliases, size, keys ----------------------------------------------------------
    add(Case("deep-flow-sequence", "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n", "flatten", 1))
    add(Case("very-deep-flow", "[" * 20000 + "]" * 20000 + "\n", "flatten"))
    add(
        Case(
            "deep-block-mapping",
            "".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + " " * 70 + "v: 1\n",
            "flatten",
            MAX_DEPTH,
        )
    )
    add(Case("alias-bomb-9-levels", _bomb(9), "aliases", "l5:"))
    add(
        Case(
            "alias-bomb-in-serve-args",
            _swap(
                SERVE,
                "      model: mlp-smoke",
                "      model: mlp-smoke\n" + "\n".join("      " + ln for ln in _bomb(9, key="x").splitlines()),
            ),
            "aliases",
            "x5:",
        )
    )
    add(Case("oversized-file", "# " + "x" * (MAX_FILE_BYTES + 10) + "\n", "split it"))
    add(Case("sequence-key", "? [a, b]\n: 1\n", "as a string"))
    add(Case("mapping-key", "? {a: 1}\n: 1\n", "as a string"))
    add(Case("flow-mapping-key", "{[a]: 1}\n", "as a string"))
    # --- templates -----------------------------------------------------------------------------
    add(
        Case(
            "helm-values",
            _swap(CLUSTER, "  name: ml-cluster", "  name: {{ .Values.name }}"),
            "helm template",
            "{{ .Values",
        )
    )
    add(
        Case(
            "helm-include",
            _swap(CLUSTER, "  labels:", '  labels:\n    {{- include "labels" . | nindent 4 }}'),
            "helm template",
            "include",
        )
    )
    add(Case("helm-if", "{{- if .Values.enabled }}\n" + CLUSTER + "{{- end }}\n", "helm template", 1))
    add(
        Case(
            "helm-quoted",
            _swap(CLUSTER, "  name: ml-cluster", '  name: "{{ .Release.Name }}-ray"'),
            "helm template",
            "Release",
        )
    )
    # --- document shapes and kinds -------------------------------------------------------------
    add(Case("scalar-document", "just a string\n", "kubernetes object"))
    add(Case("sequence-document", "- a\n- b\n", "kubernetes object"))
    add(Case("no-kind", "apiVersion: v1\nmetadata: {name: x}\n", "add apiversion/kind"))
    add(Case("kind-not-string", "apiVersion: v1\nkind: 5\nmetadata: {name: x}\n", "kind: RayCluster", "kind: 5"))
    # A list as the kind (hypothesis found it: the node-pool reading held it against a set of kinds).
    add(Case("kind-a-list", "apiVersion: v1\nkind: []\nmetadata: {name: x}\n", "kind: RayCluster", "kind: []"))
    add(
        Case(
            "ray-api-v2",
            _swap(CLUSTER, "apiVersion: ray.io/v1", "apiVersion: ray.io/v2"),
            "ray.io/v1",
            "apiVersion: ray.io/v2",
        )
    )
    add(Case("raycluster-no-name", _swap(CLUSTER, "  name: ml-cluster\n", ""), "metadata.name", "metadata:"))
    add(Case("raycluster-no-spec", "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: x}\n", "add `spec`", 1))
    add(
        Case(
            "rayjob-no-cluster",
            "apiVersion: ray.io/v1\nkind: RayJob\nmetadata: {name: j}\nspec:\n  entrypoint: python x.py\n",
            "rayClusterSpec",
            4,
        )
    )
    add(
        Case(
            "rayservice-no-cluster",
            "apiVersion: ray.io/v1\nkind: RayService\nmetadata: {name: s}\nspec:\n"
            "  serveConfigV2: 'applications: []'\n",
            "rayClusterConfig",
            4,
        )
    )
    add(
        Case(
            "rayservice-serve-not-string",
            "apiVersion: ray.io/v1\nkind: RayService\nmetadata: {name: s}\nspec:\n"
            "  serveConfigV2: {applications: []}\n  rayClusterConfig:\n" + _indent(_spec_of(CLUSTER), 4),
            "serveconfigv2",
            "serveConfigV2",
        )
    )
    add(Case("list-items-not-list", "apiVersion: v1\nkind: List\nitems: {a: 1}\n", "items", "items:"))
    add(Case("list-item-scalar", "apiVersion: v1\nkind: List\nitems:\n- 5\n", "kubernetes object", "- 5"))
    add(
        Case(
            "nested-list-item-bad",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items:\n  - x\n",
            "kubernetes object",
            "  - x",
        )
    )
    # --- node pool -----------------------------------------------------------------------------
    for key in ("cpu", "memory", "nvidia.com/gpu"):
        for bad, fix in (
            (".inf", "form like"),
            (".nan", "form like"),
            ('"-1"', "0 or more"),
            ('"abc"', "form like"),
            ('"1e30"', "correct the quantity"),
            ("-5", "0 or more"),
        ):
            text = _node_value(key, bad)
            add(
                Case(
                    f"node-{key.replace('/', '-')}-{bad.strip(chr(34))}",
                    text,
                    fix,
                    _last_line_of(text, f"{key}: {bad}"),
                    option="--nodes",
                )
            )
    add(
        Case(
            "taint-effect-sometimes",
            _swap(NODES, "effect: NoSchedule", "effect: Sometimes"),
            "NoExecute",
            "effect: Sometimes",
            option="--nodes",
        )
    )
    add(
        Case(
            "taint-no-key",
            _swap(NODES, "    - key: nvidia.com/gpu\n      value: present", "    - value: present"),
            "key: nvidia.com/gpu",
            "- value: present",
            option="--nodes",
        )
    )
    add(
        Case(
            "taint-no-effect",
            _swap(NODES, "      effect: NoSchedule\n", ""),
            "NoExecute",
            "- key: nvidia.com/gpu",
            option="--nodes",
        )
    )
    add(
        Case(
            "taints-not-list",
            _swap(
                NODES,
                "  taints:\n    - key: nvidia.com/gpu\n      value: present\n      effect: NoSchedule\n",
                "  taints: nvidia\n",
            ),
            "key: nvidia.com/gpu",
            "taints:",
            option="--nodes",
        )
    )
    add(
        Case(
            "duplicate-node-name",
            NODES + "---\n" + NODES.split("---\n")[1],
            "unique",
            _dup_line(NODES),
            option="--nodes",
        )
    )
    add(Case("node-unknown-field", _swap(NODES, "  taints:", "  taintz:"), "api reference", "spec:", option="--nodes"))
    add(Case("node-no-name", _swap(NODES, "  name: cpu-node-1\n", ""), "metadata.name", "metadata:", option="--nodes"))
    # --- worker groups -------------------------------------------------------------------------
    for field_, bad in (
        ("numOfHosts", '"x"'),
        ("numOfHosts", "-1"),
        ("numOfHosts", "0"),
        ("numOfHosts", "1.5"),
        ("numOfHosts", "true"),
        ("replicas", '"x"'),
        ("replicas", "-1"),
        ("replicas", "1.5"),
        ("minReplicas", "-3"),
        ("maxReplicas", '"many"'),
    ):
        text = _swap(
            CLUSTER,
            "      replicas: 1\n      minReplicas: 1\n      maxReplicas: 1\n",
            "      replicas: 1\n      minReplicas: 1\n      maxReplicas: 1\n".replace(
                f"{field_}: 1", f"{field_}: {bad}"
            )
            if field_ != "numOfHosts"
            else f"      replicas: 1\n      minReplicas: 1\n      maxReplicas: 1\n      numOfHosts: {bad}\n",
        )
        add(Case(f"group-{field_}-{bad.strip(chr(34))}", text, f"{field_}:", f"{field_}: {bad}"))
    add(
        Case(
            "replicas-a-billion",
            CLUSTER.replace(
                "      replicas: 1\n      minReplicas: 1\n      maxReplicas: 1\n",
                "      replicas: 1000000000\n      minReplicas: 1\n      maxReplicas: 1000000000\n",
                1,
            ),
            "lower replicas",
            "replicas: 1000000000",
        )
    )
    add(
        Case(
            "hosts-times-replicas",
            CLUSTER.replace(
                "      replicas: 1\n      minReplicas: 1\n      maxReplicas: 1\n",
                "      replicas: 200\n      minReplicas: 1\n      maxReplicas: 200\n      numOfHosts: 100\n",
                1,
            ),
            "lower replicas",
            "replicas: 200",
        )
    )
    add(
        Case(
            "duplicate-group-name",
            _swap(CLUSTER, "groupName: cpu-workers", "groupName: gpu-workers"),
            "unique groupname",
            _last_line_of(_swap(CLUSTER, "groupName: cpu-workers", "groupName: gpu-workers"), "groupName: gpu-workers"),
        )
    )
    for key, bad, fix in (
        ("cpu", '".inf"', "form like"),
        ("memory", '"-1Gi"', "0 or more"),
        ("nvidia.com/gpu", '"x"', "form like"),
        ("cpu", '"1e40"', "correct the quantity"),
    ):
        text = _swap(
            CLUSTER,
            '                  cpu: "4"'
            if key == "cpu"
            else ("                  memory: 16Gi" if key == "memory" else "                  nvidia.com/gpu: 1"),
            f"                  {key}: {bad}",
        )
        add(Case(f"container-{key.replace('/', '-')}-{bad.strip(chr(34))}", text, fix, f"{key}: {bad}"))
    # --- Serve config --------------------------------------------------------------------------
    for old, new, fix in (
        ("num_replicas: 1", "num_replicas: 1000000000", "lower num_replicas"),
        ("num_gpus: 1", "num_gpus: .inf", "num_gpus"),
        ("num_gpus: 1", "num_gpus: .nan", "num_gpus"),
        ("num_gpus: 1", "num_gpus: -1", "servedeployschema"),
        ("num_gpus: 1", "num_gpus: lots", "servedeployschema"),
        ("num_cpus: 0.4", "num_cpus: .inf", "num_cpus"),
        ("memory: 2147483648", "memory: -1", "servedeployschema"),
        ("gpu_worker: 0.001", 'gpu_worker: "x"', "e.g."),
        ("gpu_worker: 0.001", "gpu_worker: .inf", "gpu_worker"),
        ("gpu_worker: 0.001", "gpu_worker: .nan", "gpu_worker"),
        ("num_replicas: 1", "num_replicas: -1", "servedeployschema"),
        ("num_replicas: 1", "num_replicas: 1.5", "servedeployschema"),
        ("num_gpus: 1", "num_gpu: 1", "known fields"),
        ("num_replicas: 1", "num_replica: 1", "known fields"),
        ("route_prefix: /ml", "route_prefx: /ml", "known fields"),
        ("proxy_location: HeadOnly", "proxy_locaton: HeadOnly", "known fields"),
        ("proxy_location: HeadOnly", "extra_field: 1\nproxy_location: HeadOnly", "known fields"),
    ):
        text = _swap(SERVE, old, new)
        add(
            Case(
                f"serve-{new.split(':')[0].strip()}-{new.split(':', 1)[1].strip()[:12]}",
                text,
                fix,
                new.split("\n")[0].strip(),
            )
        )
    add(
        Case(
            "serve-duplicate-deployment",
            _swap(SERVE, "            gpu_worker: 0.001", "            gpu_worker: 0.001\n      - name: MLService"),
            "list each deployment once",
            22,
        )
    )
    add(
        Case(
            "serve-deployments-not-list",
            SERVE[: SERVE.index("    deployments:")] + "    deployments: 5\n",
            "servedeployschema",
            "deployments: 5",
        )
    )
    app = SERVE[SERVE.index("  - name: ml_service") :].replace("route_prefix: /ml", "route_prefix: /ml2")
    add(Case("serve-duplicate-app", SERVE + app, "unique name", _last_line_of(SERVE + app, "- name: ml_service")))
    # --- values `ray start` and Serve refuse (Ray 2.60; tests/test_raystart_values.py) ------------
    gpu_params = """        resources: "'{\\"gpu_worker\\": 1}'"\n"""
    for case_id, param, fix in (
        ("ray-start-num-gpus-1.5", 'num-gpus: "1.5"', 'num-gpus: "2"'),
        ("ray-start-num-cpus-1e3", 'num-cpus: "1e3"', 'num-cpus: "1000"'),
        ("ray-start-num-cpus-two", 'num-cpus: "two"', "whole number"),
        ("ray-start-num-cpus-negative", 'num-cpus: "-1"', "at least 0"),
        ("ray-start-memory-negative", 'memory: "-5"', "at least 0"),
    ):
        add(Case(case_id, _swap(CLUSTER, gpu_params, gpu_params + f"        {param}\n"), fix, param))
    for case_id, value, fix in (
        ("ray-start-resource-string", '{\\"gpu_worker\\": \\"1\\"}', '{"gpu_worker": 1}'),
        ("ray-start-resource-fraction", '{\\"gpu_worker\\": 0.5}', '{"gpu_worker": 1}'),
        ("ray-start-resource-negative", '{\\"gpu_worker\\": -1}', "at least 0"),
        ("ray-start-resource-gpu-key", '{\\"gpu_worker\\": 1, \\"GPU\\": 1}', "num-gpus"),
    ):
        line = "        resources: \"'" + value + "'\""
        add(Case(case_id, _swap(CLUSTER, gpu_params, line + "\n"), fix, line.strip()))
    for key, fix in (("GPU", "num_gpus"), ("CPU", "num_cpus"), ("memory", "set memory in ray_actor_options")):
        text = _swap(SERVE, "            gpu_worker: 0.001", f"            gpu_worker: 0.001\n            {key}: 1")
        add(Case(f"serve-resources-{key}", text, fix, f"            {key}: 1"))
    # --- expectations --------------------------------------------------------------------------
    for old, new, fix in (
        ("isolation:\n", "isolation: fail\nx:\n", "zerogpuongpunode"),
        ("zeroGpuOnGpuNode: warn", "zeroGpuOnGpuNode: sometimes", "warn"),
        ("gpusPerReplica: 1", 'gpusPerReplica: "x"', "gpusPerReplica: 1"),
        ("gpusPerReplica: 1", "gpusPerReplica: .inf", "gpusPerReplica: 1"),
        ("gpusPerReplica: 1", "gpusPerReplica: -1", "gpusPerReplica: 1"),
        ('gpu-node: "true"', "gpu-node: true", "quote it"),
        ("apiVersion: gpuconf/v1", "apiVersion: gpuconf/v2", "gpuconf/v1"),
        ("gpuResource: nvidia.com/gpu", "gpuResource: 5", "gpuResource: nvidia"),
        ("  - app: ml_service", "  - 5\n  - app: ml_service", "app: ml_service"),
    ):
        text = _swap(EXPECT, old, new)
        add(
            Case(
                f"expect-{new.split(':')[0].strip()}-{new.split(':', 1)[-1].strip()[:10]}",
                text,
                fix,
                new.split("\n")[0].strip(),
                option="--expect",
            )
        )
    return cases


def _indent(text: str, n: int) -> str:
    return "".join(" " * n + ln + "\n" for ln in text.splitlines())


def _spec_of(cluster: str) -> str:
    return "\n".join(ln[2:] for ln in cluster[cluster.index("\nspec:\n") + 7 :].splitlines())


def _bomb(levels: int, key: str = "l") -> str:
    lines = [f"{key}0: &{key}0 [a, a, a, a, a, a, a, a, a]"]
    for i in range(1, levels):
        lines.append(f"{key}{i}: &{key}{i} [" + ", ".join([f"*{key}{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _node_value(key: str, bad: str) -> str:
    node = NODES.split("---\n")[1]
    old = (
        '    nvidia.com/gpu: "1"'
        if key == "nvidia.com/gpu"
        else ('    cpu: "16"' if key == "cpu" else "    memory: 64Gi")
    )
    head, _, tail = node.rpartition(old)  # the allocatable entry (the last one)
    return NODES.split("---\n")[0] + "---\n" + head + f"    {key}: {bad}" + tail


def _last_line_of(content: str, needle: str) -> int:
    return [i for i, ln in enumerate(content.splitlines(), 1) if needle in ln][-1]


def _dup_line(nodes: str) -> int:
    text = nodes + "---\n" + nodes.split("---\n")[1]
    return [i for i, ln in enumerate(text.splitlines(), 1) if ln == "  name: gpu-node-1"][-1]


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _mkdir(path: Path, *files: str) -> Path:
    path.mkdir()
    for f in files:
        (path / f).write_text("hello\n")
    return path


CASES = _cases()


def test_the_catalogue_has_at_least_100_cases() -> None:
    """The issue asks for at least 100 generated bad inputs; ids are unique."""
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


def copy_manifest_root(dest: Path) -> Path:
    """A copy of the shipped manifest root (cluster, Serve config, expectations, nodes/) in `dest`."""
    for name in ("raycluster.yaml", "serve-config.yaml", "expectations.yaml"):
        shutil.copy(MANIFESTS / name, dest / name)
    shutil.copytree(MANIFESTS / "nodes", dest / "nodes")
    return dest


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped manifest root as the working folder."""
    monkeypatch.chdir(tmp_path)
    return copy_manifest_root(tmp_path)


def _run(case: Case, root: Path) -> tuple[int, dict[str, Any]]:
    """`gpuconf check --format json` on the case, in process, from the copy of the root."""
    if case.path is not None:
        target = case.path(root)
    else:
        target = root / "case.yaml"
        data = case.content.encode() if isinstance(case.content, str) else case.content
        assert data is not None
        target.write_bytes(data)
    shown = str(target.relative_to(root)) if target.is_relative_to(root) else str(target)
    args = ["check", "--format", "json"] + ([".", case.option, shown] if case.option else [shown])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(args)
    return rc, json.loads(out.getvalue())


def _want_line(case: Case) -> int:
    text = case.content if isinstance(case.content, str) else ""
    return case.line if isinstance(case.line, int) else _line_of(text, case.line)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_exit_2_with_file_line_and_fix(case: Case, root: Path) -> None:
    """Exit 2; the JSON error names the file, the line and the fix; nothing raised."""
    rc, data_out = _run(case, root)
    assert rc == 2, data_out
    err = data_out["error"]
    assert data_out["verdict"] == "error"
    assert (err["file"], err["line"]) == (case.file, _want_line(case)), err
    assert err["fix"], err
    assert case.fix.lower() in err["fix"].lower(), err


# --- the whole catalogue at once ---------------------------------------------------------------

_GROUP = "      replicas: 1\n      minReplicas: 1\n      maxReplicas: 1\n"


# Who refuses each refused input (the first pattern that matches the case id; else gpuconf itself:
# file reading, its limits, its expectations and node-pool documents). Each is the tool whose own
# reading decides it: kubectl's YAML reader (sigs.k8s.io/yaml), the API server (the CRD schemas,
# Node and PodSpec validation, quantities), KubeRay v1.5.0 (ValidateRayJobSpec, unique group
# names), Ray 2.60's `ray start` and Serve (its schema, ReplicaConfig).
REFUSERS: list[tuple[str, str]] = [
    (
        r"(bad-indent|tab-indent|unclosed-|duplicate-key|unknown-tag|python-tag|bad-anchor|sequence-key|mapping-key"
        r"|flow-mapping-key|helm-|scalar-document|sequence-document|no-kind|kind-)",
        YamlRefusal.refused_by,
    ),
    (r"(rayjob-no-cluster|duplicate-group-name)", KubeRayRefusal.refused_by),
    (
        r"(ray-api-v2|raycluster-no-|rayservice-|node-(cpu|memory|nvidia)|taint|node-unknown-field|node-no-name"
        r"|group-|container-)",
        ApiServerRefusal.refused_by,
    ),
    (r"ray-start-", RayStartRefusal.refused_by),
    (r"serve-(?!num_replicas-1000000000)", ServeRefusal.refused_by),  # past gpuconf's own replica limit
]


def refused_by(case_id: str) -> str:
    """Who refuses the catalogue input `case_id` (REFUSERS)."""
    return next((who for pattern, who in REFUSERS if re.match(pattern, case_id)), InputError.refused_by)


# Inputs that the tools gpuconf stands in for accept, so a refusal is a wrong rejection: (id, text,
# the source that decides that it is accepted).
ACCEPTED: list[tuple[str, str, str]] = [
    (
        "label-value-a-date",
        _swap(CLUSTER, "app.kubernetes.io/name: ml-service", "app.kubernetes.io/name: 2024-01-01"),
        "sigs.k8s.io/yaml (go-yaml v2) keeps a timestamp a string: a valid label value",
    ),
    (
        "num-of-hosts-null",
        _swap(CLUSTER, _GROUP, _GROUP + "      numOfHosts: null\n"),
        "the API server's structural defaulting: null takes the CRD default (numOfHosts 1)",
    ),
    (
        "group-labels-null",
        _swap(CLUSTER, _GROUP, _GROUP + "      labels: null\n"),
        "the API server drops a null in a non-nullable field without a default",
    ),
    (
        "group-resources-empty",
        _swap(CLUSTER, _GROUP, _GROUP + "      resources: {}\n"),
        "KubeRay v1.5.0 CRD: WorkerGroupSpec.resources is a map of strings",
    ),
    (
        "max-replicas-go-integer",
        _swap(CLUSTER, _GROUP, _GROUP.replace("maxReplicas: 1", "maxReplicas: 0x1")),
        "go-yaml v2 reads 0x1 as the integer 1 (strconv.ParseInt base 0)",
    ),
    (
        "suspend-yes",
        _swap(CLUSTER, _GROUP, _GROUP + "      suspend: no\n"),
        "go-yaml v2 reads `no` as false: a boolean, as the CRD wants",
    ),
]


def test_the_whole_catalogue_gives_no_traceback_and_every_refusal_says_where_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every catalogue input through the CLI: exit 2 with file:line, a fix and who refuses it (REFUSERS)
    for the bad ones, no refusal of the accepted ones, and never an exception (a traceback reads as exit 1, a FAIL)."""
    tracebacks, false_passes, wrong_rejections, unlocated, unfixed, misattributed = [], [], [], [], [], []
    sources = {case_id: source for case_id, _, source in ACCEPTED}
    for i, case in enumerate([*CASES, *(Case(case_id, text, "") for case_id, text, _ in ACCEPTED)]):
        folder = tmp_path / str(i)
        folder.mkdir()
        monkeypatch.chdir(copy_manifest_root(folder))
        try:
            rc, data = _run(case, folder)
        except Exception as exc:  # what the test is for: any exception is a traceback for the user
            tracebacks.append(f"{case.id}: {type(exc).__name__}: {exc}")
            continue
        if case.id in sources:
            if rc not in (0, 1, 4):
                wrong_rejections.append(f"{case.id} ({sources[case.id]}): {data.get('error')}")
            continue
        if rc != 2:
            false_passes.append(f"{case.id}: exit {rc}, verdict {data['verdict']}")
            continue
        err = data["error"]
        if not err.get("file") or not isinstance(err.get("line"), int) or err["line"] < 1:
            unlocated.append(f"{case.id}: {err}")
        if not err.get("fix"):
            unfixed.append(f"{case.id}: {err}")
        if err.get("refused_by") != refused_by(case.id):
            misattributed.append(f"{case.id}: refused by {err.get('refused_by')!r}, not {refused_by(case.id)!r}")
    report = {
        "tracebacks": tracebacks,
        "false passes": false_passes,
        "wrong rejections": wrong_rejections,
        "exit 2 without file:line": unlocated,
        "exit 2 without a fix": unfixed,
        "exit 2 naming the wrong refuser": misattributed,
    }
    assert not any(report.values()), json.dumps(report, indent=1)
