"""Core fixtures: the static check of the manifests under test, and the plan."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gpuconf.backends import registry
from gpuconf.errors import InputError
from gpuconf.live.apps import ServeApps
from gpuconf.live.contract import Capability, LiveCluster, Observed
from gpuconf.live.serve import DeployedServe, DeployFailed
from gpuconf.live.settings import Settings
from gpuconf.model.plan import Plan
from gpuconf.static.check import CheckResult, run_check
from gpuconf.static.rules import run_rules


@pytest.fixture(scope="session")
def check_result(gpuconf_settings: Settings) -> CheckResult:
    """`gpuconf check` over the manifests under test (bad input fails every check that needs it)."""
    s = gpuconf_settings
    try:
        return run_check([s.manifests], [s.nodes] if s.nodes else None, s.expect)
    except InputError as exc:
        pytest.fail(f"the manifests do not load: {exc.render()}", pytrace=False)


@pytest.fixture(scope="session")
def plan(check_result: CheckResult) -> Plan:
    """The plan of the RayCluster under test (the RayService's when there is no RayCluster)."""
    plans = sorted(check_result.plans, key=lambda p: not p.target.name.startswith("RayCluster/"))
    return plans[0]


@pytest.fixture(scope="session")
def live_cluster(gpuconf_settings: Settings, plan: Plan, request: pytest.FixtureRequest) -> Iterator[LiveCluster]:
    """The running cluster of this session (up once; torn down even after Ctrl-C or a failed test).

    An EnvironmentFailure (no cluster, no KubeRay, no GPU node, RBAC) fails every test that needs
    the cluster with the verdict "environment", never "failed".
    """
    from gpuconf.errors import EnvironmentFailure
    from gpuconf.testing.plugin import collector_of, environment_failure

    collector = collector_of(request.config)
    try:
        backend = registry.get(gpuconf_settings.backend)
        if Capability.RAY not in backend.capabilities:
            pytest.skip(f"the {gpuconf_settings.backend} backend runs no Ray")
        cluster = backend.start(plan, gpuconf_settings)
    except EnvironmentFailure as exc:
        environment_failure(request.config, exc)
        raise
    collector.stages.update(cluster.stages)
    collector.environment["cluster"] = cluster.evidence()
    try:
        yield cluster
    finally:
        if gpuconf_settings.keep_on_failure and request.session.testsfailed and cluster.keep is not None:
            print(f"\n--keep-on-failure: the namespace stays; delete it with: {cluster.keep()}")
        cluster.stop()


@pytest.fixture(scope="session")
def serve_apps(live_cluster: LiveCluster, plan: Plan, gpuconf_settings: Settings) -> Iterator[ServeApps]:
    """The Serve configs of this session's cluster: the cluster stays, apps come and go per test."""
    loc = plan.target.serve.loc
    apps = ServeApps(
        live_cluster.serve,
        plan.target.serve.body,
        gpuconf_settings.model,
        {f.rule: f.message for f in run_rules(plan)},
        Path(loc.file).parent if loc else None,
    )
    try:
        yield apps
    finally:
        with contextlib.suppress(Exception):  # the cluster goes down next anyway
            apps.remove_all()


def _user_apps(apps: ServeApps) -> DeployedServe:
    try:
        return apps.ensure_user()
    except DeployFailed as exc:
        pytest.fail(f"{exc}", pytrace=False)


@pytest.fixture(scope="session")
def deployed(serve_apps: ServeApps, pytestconfig: pytest.Config) -> DeployedServe:
    """The Serve config under test, RUNNING on the live cluster (fails fast with the reason if it cannot be)."""
    from gpuconf.testing.plugin import collector_of

    app = _user_apps(serve_apps)
    collector_of(pytestconfig).stages["app_running"] = app.running_s
    return app


@pytest.fixture(autouse=True)
def _user_apps_running(request: pytest.FixtureRequest) -> None:
    """Before each test that takes `deployed` or `observed`: the user's apps run, whatever ran before
    (a benchmark's twins or another test's app may have replaced them)."""
    own = inspect.signature(request.function).parameters if request.scope == "function" else {}
    if not {"deployed", "observed"} & set(own):
        return
    request.getfixturevalue("deployed")
    _user_apps(request.getfixturevalue("serve_apps"))


@pytest.fixture
def serve_app(serve_apps: ServeApps) -> Callable[..., DeployedServe]:
    """Deploy a Serve config for this test only: ``serve_app(config, model=None)``. It replaces the
    user's apps, which come back before the next test that needs them."""
    count = 0

    def deploy_one(config: Any, model: str | None = None) -> DeployedServe:
        nonlocal count
        count += 1
        try:
            return serve_apps.deploy(f"test-app-{count}", config, model)
        except DeployFailed as exc:
            pytest.fail(f"{exc}", pytrace=False)

    return deploy_one


@pytest.fixture(scope="session")
def observed(
    live_cluster: LiveCluster, deployed: DeployedServe, serve_apps: ServeApps, pytestconfig: pytest.Config
) -> Observed:
    """Every deployment of the user's apps as Serve runs them, every running replica probed from
    inside its own process, and a zero-GPU probe on every node (taken once, on the user's apps)."""
    import time

    from gpuconf.live.observe import probe_nodes
    from gpuconf.testing.plugin import collector_of
    from gpuconf.waits import WaitTimeout

    _user_apps(serve_apps)  # whatever ran since `deployed`, the probes see the user's apps
    t0 = time.monotonic()
    try:
        views, probes = live_cluster.observe_apps(deployed.config)
    except WaitTimeout as exc:
        pytest.fail(str(exc), pytrace=False)
    collector = collector_of(pytestconfig)
    collector.stages.setdefault("first_probe", round(time.monotonic() - t0, 2))
    trips = sorted(float(o.probe["round_trip_ms"]) for o in probes.replicas if o.probe.get("round_trip_ms") is not None)
    if trips:
        collector.environment["replica_probe_ms"] = {
            "replicas": len(trips),
            "p50": trips[len(trips) // 2],
            "max": trips[-1],
        }
    if live_cluster.node_probes is not None:
        nodes = live_cluster.node_probes  # taken in the cluster by the backend's Ray job
    else:
        nodes = probe_nodes(list(live_cluster.records.values()))
    expected = {v.key: v.target_replicas for v in views}
    return Observed(probes.replicas, nodes, expected, views, probes.unanswered)
