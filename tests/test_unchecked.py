"""The UNCHECKED outcome: what the static tier could not see is named, never passed and never failed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gpuconf.cli import EXIT_FAIL, EXIT_PASS, EXIT_UNCHECKED, main
from gpuconf.static.check import run_check
from gpuconf.static.fixes import UNCHECKED_NO_FIX, fix_findings
from gpuconf.static.rules import CATALOGUE, ERROR, UNCHECKED

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
CODE_APP = """\
  - name: code_app
    import_path: no_such_module:app
    route_prefix: /code
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The shipped RayCluster, Serve config, expectations and node pool, copied."""
    for name in ("raycluster.yaml", "serve-config.yaml", "expectations.yaml"):
        shutil.copy(MANIFESTS / name, tmp_path / name)
    shutil.copytree(MANIFESTS / "nodes", tmp_path / "nodes")
    return tmp_path


def add_code_app(root: Path) -> None:
    """A second app that lists no `deployments:` (and whose module does not exist: it cannot be imported)."""
    serve = root / "serve-config.yaml"
    serve.write_text(serve.read_text().replace("applications:\n", "applications:\n" + CODE_APP, 1))


def check(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`gpuconf check ARGS` in this process: the exit code and stdout."""
    rc = main(["check", *args])
    return rc, capsys.readouterr().out


def check_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    """The same with --format json, parsed."""
    rc, out = check(["--format", "json", *args], capsys)
    return rc, json.loads(out)


def says_how_to_check(out: str) -> None:
    """Both ways to check what is unchecked are named."""
    assert "gpuconf check --import-apps APP_DIR" in out
    assert "make conformance MANIFESTS=DIR" in out and "the live tier" in out


def test_code_defined_app_is_unchecked_exit_4(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An app whose deployments live only in code: named, both ways to check it, UNCHECKED, exit 4."""
    add_code_app(root)
    rc, out = check([str(root)], capsys)
    assert rc == EXIT_UNCHECKED == 4, out
    assert f"{root / 'serve-config.yaml'}:8: unchecked [SERVE-APP-UNSEEN] app 'code_app'" in out
    assert "  RayCluster/ml-cluster: app code_app (no_such_module:app)" in out
    says_how_to_check(out)
    assert out.splitlines()[-1] == "verdict: UNCHECKED (0 error(s), 0 warning(s), 1 unchecked)"
    assert "PASS" not in out and "FAIL" not in out


def test_an_error_still_wins_exit_1(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real error beside the unchecked app: FAIL, exit 1, and the unchecked app is still named."""
    add_code_app(root)
    serve = root / "serve-config.yaml"
    serve.write_text(serve.read_text().replace("num_replicas: 1", "num_replicas: 3"))
    rc, out = check([str(root)], capsys)
    assert rc == EXIT_FAIL, out
    assert "error [GPU-CAPACITY]" in out and "unchecked [SERVE-APP-UNSEEN]" in out
    says_how_to_check(out)
    assert out.splitlines()[-1] == "verdict: FAIL (1 error(s), 0 warning(s), 1 unchecked)"


def test_expectations_without_a_serve_config_are_unchecked(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Expectations name a deployment but no Serve config was given: unchecked (exit 4), not EXPECT-MISSING's error."""
    (root / "serve-config.yaml").unlink()
    result = run_check([root])
    [missing] = [f for f in result.findings if f.rule == "EXPECT-MISSING"]
    assert missing.severity == UNCHECKED and missing.evidence == {"app": "ml_service", "deployment": "MLService"}
    assert missing.loc is not None and missing.loc.line == 13
    assert result.verdict == "unchecked" and not [f for f in result.findings if f.severity == ERROR]
    rc, out = check([str(root)], capsys)
    assert rc == EXIT_UNCHECKED, out
    assert "  RayCluster/ml-cluster: deployment ml_service/MLService" in out
    says_how_to_check(out)
    assert out.splitlines()[-1] == "verdict: UNCHECKED (0 error(s), 0 warning(s), 1 unchecked)"


def test_a_serve_config_lacking_the_deployment_is_still_an_error(root: Path) -> None:
    """A Serve config was given and lacks the expected deployment: a real defect, EXPECT-MISSING stays an error."""
    serve = root / "serve-config.yaml"
    serve.write_text(serve.read_text().replace("name: MLService", "name: OtherService"))
    result = run_check([root])
    assert {f.severity for f in result.findings if f.rule == "EXPECT-MISSING"} == {ERROR}
    assert result.verdict == "fail"


def test_json_carries_the_verdict_and_the_unchecked_list(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format json: verdict `unchecked`, the counts, and one `unchecked` row per app with the ways to check it."""
    add_code_app(root)
    rc, doc = check_json([str(root)], capsys)
    assert rc == EXIT_UNCHECKED
    assert doc["verdict"] == "unchecked"
    assert doc["counts"] == {"error": 0, "warning": 0, "unchecked": 1}
    [row] = doc["unchecked"]
    assert {k: row[k] for k in ("target", "app", "deployment", "rule", "line")} == {
        "target": "RayCluster/ml-cluster",
        "app": "code_app",
        "deployment": None,
        "rule": "SERVE-APP-UNSEEN",
        "line": 8,
    }
    assert row["file"] == str(root / "serve-config.yaml") and "code_app" in row["reason"]
    commands = [w["command"] for w in row["check_with"]]
    assert commands == ["gpuconf check --import-apps APP_DIR PATH...", "make conformance MANIFESTS=DIR"]
    assert all(w["what"] for w in row["check_with"])
    assert [f["severity"] for f in doc["findings"]] == ["unchecked"]


def test_json_of_a_deployment_and_of_a_failure(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A deployment row names the deployment; with an error the verdict is `fail` and the row is still there."""
    (root / "serve-config.yaml").unlink()
    rc, doc = check_json([str(root)], capsys)
    assert (rc, doc["verdict"]) == (EXIT_UNCHECKED, "unchecked")
    assert [(r["app"], r["deployment"], r["rule"]) for r in doc["unchecked"]] == [
        ("ml_service", "MLService", "EXPECT-MISSING")
    ]
    cluster = root / "raycluster.yaml"
    # The seed's unquoted JSON, which `bash -c` splits: SHELL-SPLIT, an error.
    cluster.write_text(cluster.read_text().replace(r'''"'{\"gpu_worker\": 1}'"''', r'''"{\"gpu_worker\": 1}"''', 1))
    rc, doc = check_json([str(root)], capsys)
    assert (rc, doc["verdict"]) == (EXIT_FAIL, "fail") and "SHELL-SPLIT" in {f["rule"] for f in doc["findings"]}
    assert doc["counts"]["error"] >= 1 and doc["counts"]["unchecked"] == 1 and len(doc["unchecked"]) == 1


def test_a_pass_has_nothing_unchecked(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped manifests: PASS, exit 0, an empty `unchecked` list and no unchecked count in the text."""
    rc, out = check([str(root)], capsys)
    assert rc == EXIT_PASS and out.splitlines()[-1] == "verdict: PASS (0 error(s), 0 warning(s))"
    rc, doc = check_json([str(root)], capsys)
    assert (rc, doc["verdict"], doc["unchecked"]) == (EXIT_PASS, "pass", [])
    assert doc["counts"] == {"error": 0, "warning": 0, "unchecked": 0}


def test_fix_leaves_unchecked_findings_alone(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--fix changes nothing for an unchecked finding, says why, and exits 4."""
    (root / "serve-config.yaml").unlink()
    before = run_check([root])
    run = fix_findings(before.plans, before.findings)
    assert [(o.finding.rule, o.no_fix, o.done) for o in run.outcomes] == [("EXPECT-MISSING", UNCHECKED_NO_FIX, "")]
    assert run.changed == []
    rc, out = check(["--fix", str(root)], capsys)
    assert rc == EXIT_UNCHECKED and "no automatic fix: unchecked, not wrong" in out


def test_catalogue_says_unchecked() -> None:
    """SERVE-APP-UNSEEN's catalogue severity is `unchecked`, so the rule table says so."""
    assert {r.id: r.severity for r in CATALOGUE}["SERVE-APP-UNSEEN"] == UNCHECKED
