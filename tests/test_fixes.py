"""`gpuconf check --fix`: each regression case's fix removes its finding and adds none."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path
from typing import Any, cast

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gpuconf.cli import main
from gpuconf.static.check import run_check
from gpuconf.static.fixes import FIXERS, NO_FIX, fix_findings
from gpuconf.static.regressions import RegressionCase, discover
from gpuconf.static.rules import CATALOGUE
from gpuconf.static.yamledit import Workspace

ROOT = Path(__file__).resolve().parents[1]
CASES = discover(ROOT / "manifests" / "regressions")


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    """A copy of the manifests, so a case keeps the manifest root it is completed from."""
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    return tmp_path / "manifests"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fix_removes_the_finding_and_adds_none(case: RegressionCase, manifests: Path) -> None:
    """Fixing the case's named rule clears it, and every rule firing afterwards fired before."""
    path = manifests / "regressions" / case.path.name
    before = run_check([path])
    run = fix_findings(before.plans, before.findings, {case.rule})
    assert run.outcomes and all(o.finding.rule == case.rule for o in run.outcomes)
    if case.rule in NO_FIX:
        assert all(o.no_fix == NO_FIX[case.rule] and not o.done for o in run.outcomes)
        assert run.changed == []
        return
    assert all(o.done and not o.no_fix for o in run.outcomes), [o.no_fix for o in run.outcomes]
    assert run.changed == [str(path)], "a case's fix stays inside the case file"
    run.write()
    after = run_check([path])
    rules_before, rules_after = {f.rule for f in before.findings}, {f.rule for f in after.findings}
    assert case.rule not in rules_after
    assert rules_after <= rules_before - {case.rule}, f"new findings: {sorted(rules_after - rules_before)}"
    assert not rules_after & case.consequences, "the consequences go with their cause"


def test_every_rule_has_a_fixer_or_a_documented_reason() -> None:
    """No silent skips: each rule is fixed, or listed with its reason, as docs/static-inputs.md says."""
    ids = {r.id for r in CATALOGUE}
    assert set(FIXERS) | set(NO_FIX) == ids and not set(FIXERS) & set(NO_FIX)
    doc = (ROOT / "docs" / "static-inputs.md").read_text(encoding="utf-8")
    section = doc.split("## Fixing findings", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^- `([A-Z0-9-]+)`: no automatic fix", section, re.M))
    assert documented == set(NO_FIX)


def test_comments_and_layout_are_kept(manifests: Path) -> None:
    """Only the fixed line changes: comments, quoting and the header stay byte for byte."""
    path = manifests / "regressions" / "seed-unescaped-resources.yaml"
    old = path.read_text(encoding="utf-8")
    assert main(["check", "--fix", str(path)]) == 0
    new = path.read_text(encoding="utf-8")
    assert len(old.splitlines()) == len(new.splitlines())
    changed = [(a, b) for a, b in zip(old.splitlines(), new.splitlines(), strict=True) if a != b]
    assert changed == [('        resources: "{\\"gpu_worker\\": 1}"', '        resources: "\'{\\"gpu_worker\\": 1}\'"')]


def test_diff_writes_nothing(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--fix --diff prints a unified diff of the fix, leaves the file as it was and exits as check does."""
    path = manifests / "regressions" / "head-advertises-gpus.yaml"
    old = path.read_bytes()
    assert main(["check", "--fix", "--diff", str(path)]) == 1
    out = capsys.readouterr().out
    assert path.read_bytes() == old
    assert '-      num-gpus: "1"' in out and '+      num-gpus: "0"' in out and out.count("\n+++ ") == 1


def test_fix_exit_codes(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 0 when the fix leaves no error, 1 with `no automatic fix` when one remains, 2 on bad input."""
    assert main(["check", "--fix", str(manifests / "regressions" / "more-gpu-replicas-than-gpus.yaml")]) == 0
    memory = manifests / "regressions" / "replica-memory-too-large.yaml"
    old = memory.read_bytes()
    assert main(["check", "--fix", str(memory)]) == 1
    assert "[REPLICA-MEMORY] no automatic fix: " + NO_FIX["REPLICA-MEMORY"] in capsys.readouterr().out
    assert memory.read_bytes() == old
    bad = manifests / "bad.yaml"
    bad.write_text("kind: RayCluster\nspec: [\n", encoding="utf-8")
    assert main(["check", "--fix", str(bad)]) == 2


def test_serve_config_inside_a_rayservice(manifests: Path, tmp_path: Path) -> None:
    """An edit inside serveConfigV2 keeps the outer RayService (and its comments) intact."""
    service = (manifests / "rayservice.yaml").read_text(encoding="utf-8")
    assert "num_replicas: 1" in service
    root = tmp_path / "svc"
    shutil.copytree(manifests, root)
    for p in root.glob("*.yaml"):
        if p.name not in ("rayservice.yaml", "expectations.yaml"):
            p.unlink()
    path = root / "rayservice.yaml"
    path.write_text(service.replace("num_replicas: 1", "num_replicas: 3", 1), encoding="utf-8")
    before = run_check([root])
    assert "GPU-CAPACITY" in {f.rule for f in before.findings}
    run = fix_findings(before.plans, before.findings, {"GPU-CAPACITY"})
    run.write()
    new = path.read_text(encoding="utf-8")
    assert new == service, "the fix restores the original replica count and nothing else"
    assert "GPU-CAPACITY" not in {f.rule for f in run_check([root]).findings}


# --- key paths ---------------------------------------------------------------------------------


def _line_of(node: Any, keys: tuple[Any, ...]) -> int:
    """0-based line (in the object's own text) of the deepest of `keys` under `node`, as ruamel.yaml read it."""
    line = int(node.lc.line)
    for k in keys:
        if isinstance(node, CommentedMap) and k in node:
            line, node = node.lc.key(k)[0], node[k]
        elif isinstance(node, CommentedSeq) and isinstance(k, int) and 0 <= k < len(node):
            line, node = node.lc.item(k)[0], node[k]
        else:
            break
    return line


def test_each_finding_key_path_leads_to_the_line_it_shows(manifests: Path) -> None:
    """The loader's file:line and the editor's key path name one field, for every finding of every case.

    The line comes from the YAML the checker read; the key path is walked in the editor's own tree.
    The RayService case puts findings inside serveConfigV2, a document within a document.
    """
    paths = [c.path for c in CASES] + [manifests / "rayservice.yaml"]
    service = manifests / "rayservice.yaml"
    service.write_text(service.read_text(encoding="utf-8").replace("num_replicas: 1", "num_replicas: 3", 1))
    ws = Workspace()
    seen = 0
    for path in paths:
        for f in run_check([path]).findings:
            if f.at.root is None or f.loc is None:
                continue
            obj = ws.mapping_at(f.at.root)
            offset = f.at.root.line - 1 - int(obj.lc.line)  # where the object's text starts in the file
            assert _line_of(obj, f.at.keys) + offset + 1 == f.loc.line, (path.name, f.rule, f.at)
            seen += 1
    assert seen > len(CASES)


def test_fix_edits_an_object_inside_a_list(manifests: Path) -> None:
    """A RayCluster given as an item of a `kind: List` (as `kubectl get -o yaml` prints it) is fixed in place."""
    case = manifests / "regressions" / "head-advertises-gpus.yaml"
    y = YAML()
    listed = CommentedMap(
        [("apiVersion", "v1"), ("kind", "List"), ("items", CommentedSeq(y.load_all(case.read_text())))]
    )
    path = manifests / "regressions" / "listed.yaml"
    buf = io.StringIO()
    y.dump(listed, buf)
    path.write_text("# expect: HEAD-GPU | the case as a List item\n" + buf.getvalue(), encoding="utf-8")
    before = run_check([path])
    assert "HEAD-GPU" in {f.rule for f in before.findings}
    run = fix_findings(before.plans, before.findings, {"HEAD-GPU"})
    assert run.outcomes and all(o.done for o in run.outcomes), [o.no_fix for o in run.outcomes]
    run.write()
    assert "HEAD-GPU" not in {f.rule for f in run_check([path]).findings}


def test_zero_gpu_fix_steers_where_the_finding_says(manifests: Path) -> None:
    """ISOLATION-ZERO-GPU's fix text and --fix pick one CPU-only marker; a group that can also land on a GPU node offers none."""
    cluster = manifests / "raycluster.yaml"
    text = cluster.read_text(encoding="utf-8")
    cpu = text[text.index("    - groupName: cpu-workers\n") :]
    anywhere = (
        cpu.replace("cpu-workers", "any-workers", 1)
        .replace("cpu_worker", "any_worker", 1)
        .replace(
            "        spec:\n",
            "        spec:\n          tolerations:\n            - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}\n",
            1,
        )
    )
    cluster.write_text(text.replace(cpu, anywhere.rstrip("\n") + "\n" + cpu), encoding="utf-8")
    before = run_check([manifests / "regressions" / "zero-gpu-replica-on-gpu-node.yaml"])
    assert {"any-workers", "cpu-workers"} <= {g.label for g in before.plans[0].groups}
    found = [f for f in before.findings if f.rule == "ISOLATION-ZERO-GPU"]
    assert found and "{cpu_worker: 0.001}" in found[0].fix and "any_worker" not in found[0].fix
    run = fix_findings(before.plans, found, {"ISOLATION-ZERO-GPU"})
    assert [o.done.split(" (dropped")[0] for o in run.outcomes] == ["resources: {'cpu_worker': 0.001}"]


# --- --fix --format json ------------------------------------------------------------------------------


def _json_out(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = capsys.readouterr().out
    return cast(dict[str, Any], json.loads(out))  # the whole of stdout is one JSON object


def test_fix_json_says_what_was_fixed_and_the_findings_after(
    manifests: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--fix --format json: one JSON object, the fixed and unfixed findings with file:line, the check after."""
    path = manifests / "regressions" / "seed-unescaped-resources.yaml"
    assert main(["check", "--fix", "--format", "json", str(path)]) == 0
    doc = _json_out(capsys)
    assert doc["verdict"] == "pass" and doc["findings"] == []
    fix = doc["fix"]
    assert fix["mode"] == "fix" and fix["written"] == [str(path)]
    [shell] = [f for f in fix["fixed"] if f["rule"] == "SHELL-SPLIT"]
    assert (shell["file"], shell["line"]) == (str(path), 36) and "gpu_worker" in shell["change"]
    [unplaceable] = fix["not_fixed"]
    assert unplaceable["rule"] == "SERVE-UNPLACEABLE" and unplaceable["reason"] == NO_FIX["SERVE-UNPLACEABLE"]


def test_fix_json_with_a_finding_left(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A finding with no automatic fix stays in the resulting findings, and the exit code is 1."""
    memory = manifests / "regressions" / "replica-memory-too-large.yaml"
    assert main(["check", "--fix", "--format", "json", str(memory)]) == 1
    doc = _json_out(capsys)
    assert doc["verdict"] == "fail" and doc["fix"]["fixed"] == [] and doc["fix"]["written"] == []
    assert {f["rule"] for f in doc["fix"]["not_fixed"]} == {"REPLICA-MEMORY", "SERVE-UNPLACEABLE"}
    assert "REPLICA-MEMORY" in {f["rule"] for f in doc["findings"]}


def test_fix_diff_json_writes_nothing(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--fix --diff --format json: the diff inside the JSON, the findings of the files as they are."""
    path = manifests / "regressions" / "head-advertises-gpus.yaml"
    old = path.read_bytes()
    assert main(["check", "--fix", "--diff", "--format", "json", str(path)]) == 1
    doc = _json_out(capsys)
    assert path.read_bytes() == old
    assert doc["fix"]["mode"] == "diff" and "written" not in doc["fix"]
    assert '+      num-gpus: "0"' in doc["fix"]["diff"]
    assert "HEAD-GPU" in {f["rule"] for f in doc["findings"]}


def test_fix_json_bad_input_is_json(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = manifests / "bad.yaml"
    bad.write_text("kind: RayCluster\nspec: [\n", encoding="utf-8")
    assert main(["check", "--fix", "--format", "json", str(bad)]) == 2
    doc = _json_out(capsys)
    assert doc["verdict"] == "error" and doc["error"]["file"].endswith("bad.yaml") and doc["error"]["line"] >= 2
    assert "YAML syntax" in doc["error"]["message"] and doc["error"]["fix"]
