"""The pytest plugin behind conftest.py: options, markers, the central skip, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from gpuconf import waits
from gpuconf.testing import settings as settings_mod
from gpuconf.testing.evidence import Evidence
from gpuconf.testing.report import ReportCollector

# Capability markers and the backends that provide them; checked here and nowhere else.
CAPABILITIES: dict[str, tuple[str, ...]] = {
    "ray": ("embedded", "kwok", "cluster"),
    "kube": ("kwok", "cluster"),
    "kwok": ("kwok",),
    "cluster": ("cluster",),
}
MARKERS = {
    "static": "static conformance check over the manifests (any backend)",
    "ray": "needs running Ray nodes (embedded, kwok or cluster backend)",
    "kube": "needs a Kubernetes API server (kwok or cluster backend)",
    "kwok": "needs the local kwok control plane (make cluster-up)",
    "cluster": "needs a real cluster (kubeconfig)",
    "cuda": "needs a physical CUDA device in the replica (skips, or fails under --require-cuda)",
    "conformance": "a conformance check (set on everything under suites/)",
    "regression": "proves a known-bad manifest is caught",
    "slow": "takes more than a few seconds",
}
_SETTINGS = pytest.StashKey[settings_mod.Settings]()
_COLLECTOR = pytest.StashKey[ReportCollector]()


def pytest_addoption(parser: pytest.Parser) -> None:
    settings_mod.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    resolved = settings_mod.resolve(config)
    config.stash[_SETTINGS] = resolved
    waits.set_timeout_scale(resolved.timeout_scale)
    if not getattr(config.option, "xmlpath", None) and not hasattr(config, "workerinput"):
        config.option.xmlpath = str(resolved.report_dir / "junit.xml")
    config.stash[_COLLECTOR] = ReportCollector(resolved.report_dir, resolved.backend, backend_reason=resolved.backend_reason)


def settings_of(config: pytest.Config) -> settings_mod.Settings:
    """The resolved settings of this run."""
    return config.stash[_SETTINGS]


def collector_of(config: pytest.Config) -> ReportCollector:
    """The report collector of this run (stage times and environment go here)."""
    return config.stash[_COLLECTOR]


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash.get(_SETTINGS, None)
    if s is None:
        return []
    return [f"gpuconf: backend={s.backend} ({s.backend_reason})",
            f"gpuconf: manifests={s.manifests} nodes={s.nodes or '(beside manifests)'} "
            f"expect={s.expect or '(beside manifests)'} kubeconfig={s.kubeconfig or '-'}",
            f"gpuconf: report-dir={s.report_dir} timeout-scale={s.timeout_scale} strict={s.strict} "
            f"require-cuda={s.require_cuda} model={s.model or '(from the Serve config)'}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    s = settings_of(config)
    root = Path(str(config.rootpath))
    for item in items:
        rel = Path(str(item.path)).relative_to(root) if Path(str(item.path)).is_relative_to(root) else Path(str(item.path))
        if rel.parts[:1] == ("suites",):
            item.add_marker(pytest.mark.conformance)
        for marker, backends in CAPABILITIES.items():
            if item.get_closest_marker(marker) and s.backend not in backends:
                item.add_marker(pytest.mark.skip(
                    reason=f"needs the {' or '.join(backends)} backend; this run uses --backend {s.backend}"))
                break


def environment_failure(config: pytest.Config, exc: BaseException) -> None:
    """Record that the environment (not the configuration) stopped the live checks."""
    collector = config.stash.get(_COLLECTOR, None)
    if collector is not None:
        collector.environment["environment_failure"] = {
            "message": str(exc), "exit_code": getattr(exc, "exit_code", None),
            "evidence": getattr(exc, "evidence", {})}


def _diagnostics_dir(report_dir: Path, nodeid: str) -> Path:
    """reports/<test id>/: the test id made into one safe folder name."""
    import re

    return report_dir / re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]


def _collect_failure_diagnostics(item: pytest.Item, report: pytest.TestReport) -> None:
    """A failing check on a kube backend: the namespace's diagnostics go to reports/<test id>/ now,
    before the session's teardown deletes the namespace."""
    live = getattr(item, "funcargs", {}).get("live_cluster")
    diagnose = getattr(getattr(live, "kube", None), "diagnose", None)
    if diagnose is None:
        return
    dest = _diagnostics_dir(settings_of(item.config).report_dir, report.nodeid)
    try:
        diagnose(dest)
        report.user_properties.append(("diagnostics", str(dest)))
    except Exception as exc:  # diagnostics must never hide the failure they document
        report.user_properties.append(("diagnostics", f"could not be collected: {exc!r}"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    from gpuconf.errors import EnvironmentFailure

    report = yield
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(EnvironmentFailure):
        report.gpuconf_environment = getattr(call.excinfo.value, "exit_code", None)  # type: ignore[attr-defined]
    elif report.failed and report.when == "call":
        _collect_failure_diagnostics(item, report)
    s = settings_of(item.config)
    if s.strict and report.skipped and item.get_closest_marker("conformance") and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"--strict: a conformance check may not be skipped ({report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr})"
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Reports of every check under suites/ and benchmarks/ go into conformance.json.
    if report.nodeid.startswith(("suites/", "benchmarks/")) and _ACTIVE is not None:
        _ACTIVE.record(report)


_ACTIVE: ReportCollector | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _ACTIVE
    _ACTIVE = session.config.stash.get(_COLLECTOR, None)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Only environment failures: exit with their code (preflight's 10-14, else 3), not 1.
    collector = session.config.stash.get(_COLLECTOR, None)
    if collector is None or exitstatus != pytest.ExitCode.TESTS_FAILED:
        return
    code = collector.environment_exit_code()
    if code is not None:
        session.exitstatus = code


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    collector = config.stash.get(_COLLECTOR, None)
    if collector is None or not collector.entries:
        return
    json_path, md_path = collector.write()
    terminalreporter.section("gpuconf conformance summary")
    terminalreporter.write(md_path.read_text())
    terminalreporter.write_line(f"reports: {json_path}, {md_path}, {config.option.xmlpath}")


@pytest.fixture(scope="session")
def gpuconf_settings(pytestconfig: pytest.Config) -> settings_mod.Settings:
    """The resolved settings of this run."""
    return settings_of(pytestconfig)


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Record what a check saw; it lands in junit.xml and conformance.json."""
    return Evidence(request.node)
