"""Environment failures are kept apart from conformance failures, in the report and in the exit code.

The collector is fed pytest reports as the plugin would; the last test runs a real suite with
--backend=cluster against a kubeconfig whose server nothing listens on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpuconf.errors import EXIT_ENVIRONMENT, EXIT_UNREACHABLE
from gpuconf.testing.report import ReportCollector

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]


def phase(
    nodeid: str, when: str, outcome: str = "passed", environment: int | bool | None = False, longrepr: Any = None
) -> pytest.TestReport:
    """One phase report; `environment` (an exit code or None) marks it as the plugin marks an EnvironmentFailure."""
    report = pytest.TestReport(
        nodeid=nodeid,
        location=(nodeid.split("::")[0], 1, nodeid),
        keywords={},
        outcome=outcome,
        longrepr=longrepr if longrepr is not None else ("x" if outcome == "failed" else None),
        when=when,
        user_properties=[],
    )
    if environment is not False:
        report.gpuconf_environment = environment  # type: ignore[attr-defined]
    return report


def env_error_in_setup(collector: ReportCollector, nodeid: str, code: int | None) -> None:
    """A check whose fixture raised an EnvironmentFailure: failed setup, passed teardown."""
    collector.record(phase(nodeid, "setup", "failed", environment=code, longrepr="no API server answers"))
    collector.record(phase(nodeid, "teardown"))


def passed_check(collector: ReportCollector, nodeid: str) -> None:
    """A check that passed all three phases."""
    for when in ("setup", "call", "teardown"):
        collector.record(phase(nodeid, when))


def written(collector: ReportCollector) -> dict[str, Any]:
    """conformance.json as written."""
    json_path, md_path = collector.write()
    assert md_path.exists()
    return json.loads(json_path.read_text())


@pytest.fixture
def collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReportCollector:
    """A collector writing under tmp_path (and never into a CI step summary)."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return ReportCollector(tmp_path / "reports", "cluster")


def test_only_environment_failures(collector: ReportCollector) -> None:
    """Environment failures alone: each check is "environment", the run is "environment failure", exit is their code."""
    env_error_in_setup(collector, "suites/a.py::test_one", 11)
    env_error_in_setup(collector, "suites/a.py::test_two", 11)
    assert collector.environment_exit_code() == 11
    doc = written(collector)
    assert doc["verdict"] == "environment failure"
    assert [c["verdict"] for c in doc["checks"]] == ["environment", "environment"]
    assert all(c["detail"] == "no API server answers" for c in doc["checks"])
    summary = (collector.report_dir / "summary.md").read_text()
    assert "ENVIRONMENT FAILURE" in summary and "| ENVIRONMENT |" in summary


def test_environment_failure_with_passes_and_skips(collector: ReportCollector) -> None:
    """Passes and skips beside an environment failure change neither the verdict nor the exit code."""
    passed_check(collector, "suites/a.py::test_ok")
    collector.record(phase("suites/a.py::test_skip", "setup", "skipped", longrepr=("f.py", 1, "Skipped: not here")))
    env_error_in_setup(collector, "suites/a.py::test_env", 12)
    assert collector.environment_exit_code() == 12
    doc = written(collector)
    assert doc["verdict"] == "environment failure"
    assert {c["id"]: c["verdict"] for c in doc["checks"]} == {
        "suites/a.py::test_ok": "passed",
        "suites/a.py::test_skip": "skipped",
        "suites/a.py::test_env": "environment",
    }


def test_conformance_failure_outranks_environment(collector: ReportCollector) -> None:
    """A conformance failure plus an environment failure: verdict "fail", and no environment exit code (pytest's 1 stands)."""
    env_error_in_setup(collector, "suites/a.py::test_env", 11)
    collector.record(phase("suites/a.py::test_bad", "setup"))
    collector.record(phase("suites/a.py::test_bad", "call", "failed", longrepr="assert replica on GPU node"))
    collector.record(phase("suites/a.py::test_bad", "teardown"))
    assert collector.environment_exit_code() is None
    doc = written(collector)
    assert doc["verdict"] == "fail"
    assert {c["id"]: c["verdict"] for c in doc["checks"]} == {
        "suites/a.py::test_env": "environment",
        "suites/a.py::test_bad": "failed",
    }


def test_setup_error_outranks_environment(collector: ReportCollector) -> None:
    """A plain (non-environment) setup error is a failure too: verdict "fail", no environment exit code."""
    env_error_in_setup(collector, "suites/a.py::test_env", 11)
    collector.record(phase("suites/a.py::test_err", "setup", "failed", longrepr="fixture broke"))
    assert collector.environment_exit_code() is None
    doc = written(collector)
    assert doc["verdict"] == "fail"
    assert {c["id"]: c["verdict"] for c in doc["checks"]}["suites/a.py::test_err"] == "error"


def test_environment_failure_without_code_uses_default(collector: ReportCollector) -> None:
    """An EnvironmentFailure without a precise code exits EXIT_ENVIRONMENT; a later precise code is used when present."""
    env_error_in_setup(collector, "suites/a.py::test_one", None)
    assert collector.environment_exit_code() == EXIT_ENVIRONMENT
    env_error_in_setup(collector, "suites/a.py::test_two", 13)
    assert collector.environment_exit_code() == 13


def test_no_environment_failure_no_code(collector: ReportCollector) -> None:
    """A clean run has no environment exit code and the verdict "pass"."""
    passed_check(collector, "suites/a.py::test_ok")
    assert collector.environment_exit_code() is None
    assert written(collector)["verdict"] == "pass"


def test_unreachable_cluster_suite_exits_10(tmp_path: Path) -> None:
    """suites/placement with --backend=cluster and a dead API server: exit 10, every check "environment", message names the kubeconfig."""
    kubeconfig = tmp_path / "kubeconfig-unreachable"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [
                    {"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}
                ],
                "users": [{"name": "u", "user": {"token": "x"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    report_dir = tmp_path / "rep"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "GITHUB_STEP_SUMMARY")
    }
    # timeout is only a hang guard: a hang fails the test with TimeoutExpired.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/placement",
            "-p",
            "no:cacheprovider",
            "--backend=cluster",
            f"--kubeconfig={kubeconfig}",
            f"--report-dir={report_dir}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == EXIT_UNREACHABLE == 10, output
    doc = json.loads((report_dir / "conformance.json").read_text())
    assert doc["verdict"] == "environment failure", output
    assert doc["backend"] == "cluster"
    assert doc["checks"], output
    assert {c["verdict"] for c in doc["checks"]} == {"environment"}, doc["checks"]
    assert all(c["id"].startswith("suites/placement/") for c in doc["checks"])
    assert all(str(kubeconfig) in c["detail"] for c in doc["checks"]), doc["checks"]
    failure = doc["environment"]["environment_failure"]
    assert failure["exit_code"] == EXIT_UNREACHABLE
    assert str(kubeconfig) in failure["message"]


def test_the_collector_can_be_held_as_pytest_holds_its_plugins(
    collector: ReportCollector, pytestconfig: pytest.Config
) -> None:
    """pytest keeps plugins in sets (a conftest folder's hook proxy: pluggy's subset_hook_caller); an
    unhashable collector (a dataclass with eq) broke every run at its first check's setup report."""
    pm = pytestconfig.pluginmanager
    pm.register(collector, "gpuconf-report-under-test")
    try:
        caller = pm.subset_hook_caller("pytest_runtest_logreport", remove_plugins=[collector])
        assert callable(caller)
    finally:
        pm.unregister(collector)
