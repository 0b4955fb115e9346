"""The pytest plugin behind conftest.py: options, markers, the central skip, reports."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from gpuconf import waits
from gpuconf.backends import registry
from gpuconf.live.artifacts import artifacts_dir
from gpuconf.live.contract import CAPABILITY_DOCS, Backend, Capability, LiveCluster
from gpuconf.testing import settings as settings_mod
from gpuconf.testing.evidence import Evidence
from gpuconf.testing.report import ReportCollector

# Markers that are not capabilities; the capability markers come from gpuconf.live.contract.Capability.
MARKERS = {
    "static": "static conformance check over the manifests (any backend)",
    "cuda": "needs a physical CUDA device in the GPU replicas (skips, or fails under --require-cuda)",
    "conformance": "a conformance check (set on everything under suites/)",
    "regression": "proves a known-bad manifest is caught",
    "slow": "takes more than a few seconds",
    "processes": "starts Ray, a cluster, make or a nested pytest (left out of `make unit`)",
}
_SETTINGS = pytest.StashKey[settings_mod.Settings]()
# The name the session's report collector is registered under (it is a plugin of its own).
REPORT_PLUGIN = "gpuconf-report"


def pytest_addoption(parser: pytest.Parser) -> None:
    settings_mod.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    for cap, doc in CAPABILITY_DOCS.items():
        config.addinivalue_line("markers", f"{cap.value}: needs {doc} (skipped where the backend lacks it)")
    resolved = settings_mod.resolve(config)
    config.stash[_SETTINGS] = resolved
    waits.set_timeout_scale(resolved.timeout_scale)
    if not getattr(config.option, "xmlpath", None) and not hasattr(config, "workerinput"):
        config.option.xmlpath = str(resolved.report_dir / "junit.xml")
    config.pluginmanager.register(
        ReportCollector(resolved.report_dir, resolved.backend, backend_reason=resolved.backend_reason), REPORT_PLUGIN
    )


def settings_of(config: pytest.Config) -> settings_mod.Settings:
    """The resolved settings of this run."""
    return config.stash[_SETTINGS]


def collector_of(config: pytest.Config) -> ReportCollector:
    """The report collector of this run (stage times and environment go here)."""
    collector = config.pluginmanager.get_plugin(REPORT_PLUGIN)
    if not isinstance(collector, ReportCollector):
        raise LookupError(
            f"no gpuconf report collector registered as {REPORT_PLUGIN!r} (is gpuconf.testing.plugin loaded?)"
        )
    return collector


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash.get(_SETTINGS, None)
    if s is None:
        return []
    return [
        f"gpuconf: backend={s.backend} ({s.backend_reason})",
        f"gpuconf: manifests={s.manifests} nodes={s.nodes or '(beside manifests)'} "
        f"expect={s.expect or '(beside manifests)'} kubeconfig={s.kubeconfig or '-'}",
        f"gpuconf: report-dir={s.report_dir} timeout-scale={s.timeout_scale} strict={s.strict} "
        f"require-cuda={s.require_cuda} model={s.model or '(from the Serve config)'}",
    ]


def withheld(backend: Backend, settings: settings_mod.Settings | None) -> dict[Capability, str]:
    """Capabilities `backend` has but does not offer this run, each with its skip reason: a backend may
    define ``withheld(settings)`` (the cluster backend: autoscaling only with --allow-scaling)."""
    ask = getattr(backend, "withheld", None)
    return dict(ask(settings)) if ask is not None and settings is not None else {}


def capabilities_for(backend: Backend, settings: settings_mod.Settings | None) -> frozenset[Capability]:
    """What `backend` provides in this run: its capabilities less those it withholds given `settings`."""
    return backend.capabilities - withheld(backend, settings).keys()


def missing_capability(item: pytest.Item, backend: Backend, settings: settings_mod.Settings) -> str | None:
    """Why `item` cannot run on `backend` in this run (None: it can): the first capability it is marked
    with that the backend lacks or withholds. The one place capability markers are read."""
    held_back = withheld(backend, settings)
    have_now = capabilities_for(backend, settings)
    for cap in Capability:
        if not item.get_closest_marker(cap.value) or cap in have_now:
            continue
        if cap in held_back:
            return f"needs {cap.value}, {CAPABILITY_DOCS[cap]}; on the {settings.backend} backend this {held_back[cap]}"
        have = ", ".join(sorted(c.value for c in have_now)) or "none"
        return (
            f"needs {cap.value}, {CAPABILITY_DOCS[cap]}: the {settings.backend} backend does not provide it "
            f"(it provides: {have})"
        )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    s = settings_of(config)
    backend = registry.get(s.backend)
    root = Path(str(config.rootpath))
    for item in items:
        rel = (
            Path(str(item.path)).relative_to(root)
            if Path(str(item.path)).is_relative_to(root)
            else Path(str(item.path))
        )
        if rel.parts[:1] == ("suites",):
            item.add_marker(pytest.mark.conformance)
        reason = missing_capability(item, backend, s)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _cuda_gate(request: pytest.FixtureRequest) -> None:
    """A `cuda` check runs only where the GPU replicas see a physical device; else it skips with the
    reason, or fails under --require-cuda (gpuconf.live.cuda decides, here and nowhere else)."""
    if request.node.get_closest_marker("cuda") is None:
        return
    from gpuconf.live.cuda import cuda_verdict

    observed = request.getfixturevalue("observed")
    live = request.getfixturevalue("live_cluster")
    plan = request.getfixturevalue("plan")
    replicas = [o for d in plan.expectations.gpu_deployments for o in observed.of(d.app, d.deployment)]
    verdict = cuda_verdict(
        replicas,
        getattr(live.kube, "fake_gpu_nodes", None) or [],
        [g["name"] for g in live.physical_gpus],
        settings_of(request.config).require_cuda,
    )
    if verdict.outcome == "fail":
        pytest.fail(verdict.reason, pytrace=False)
    if verdict.outcome == "skip":
        pytest.skip(verdict.reason)


def environment_failure(config: pytest.Config, exc: BaseException) -> None:
    """Record that the environment (not the configuration) stopped the live checks."""
    collector = config.pluginmanager.get_plugin(REPORT_PLUGIN)
    if isinstance(collector, ReportCollector):
        collector.environment["environment_failure"] = {
            "message": str(exc),
            "exit_code": getattr(exc, "exit_code", None),
            "evidence": getattr(exc, "evidence", {}),
        }


def _collect_failure_diagnostics(item: pytest.Item, report: pytest.TestReport) -> None:
    """A failing check on a live backend: its diagnostics (Ray logs; on kube backends the namespace's
    events, pods and logs) go to reports/<test id>/ now, before the session's teardown deletes them."""
    live = getattr(item, "funcargs", {}).get("live_cluster")
    if not isinstance(live, LiveCluster):
        return
    dest = artifacts_dir(settings_of(item.config).report_dir, report.nodeid)
    try:
        if live.diagnose(dest) is not None:
            report.user_properties.append(("diagnostics", str(dest)))
    except Exception as exc:  # diagnostics must never hide the failure they document
        report.user_properties.append(("diagnostics", f"could not be collected: {exc!r}"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
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


@pytest.fixture(scope="session")
def gpuconf_settings(pytestconfig: pytest.Config) -> settings_mod.Settings:
    """The resolved settings of this run."""
    return settings_of(pytestconfig)


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Record what a check saw; it lands in junit.xml and conformance.json."""
    return Evidence(request.node)
