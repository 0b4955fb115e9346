"""The scaling checks' fixtures (registered in the root conftest): shared by the suite and its benchmark.

Each asks for the session's cluster only once `target` has not skipped, so manifests without an
autoscaling cluster skip in seconds instead of starting one.
"""

from __future__ import annotations

import pytest

from gpuconf.live.apps import ServeApps
from gpuconf.live.contract import LiveCluster
from gpuconf.model.plan import Plan
from suites.scaling.scaling import NO_AUTOSCALING, GpuTarget, gpu_target, is_autoscaled


@pytest.fixture
def live(target: GpuTarget, request: pytest.FixtureRequest) -> LiveCluster:
    """The session's cluster, asked for only once `target` did not skip (session fixtures start first)."""
    cluster: LiveCluster = request.getfixturevalue("live_cluster")
    return cluster


@pytest.fixture
def apps(target: GpuTarget, request: pytest.FixtureRequest) -> ServeApps:
    """The session's Serve configs, likewise asked for only after `target`."""
    found: ServeApps = request.getfixturevalue("serve_apps")
    return found


@pytest.fixture
def target(plan: Plan) -> GpuTarget:
    """The expected-GPU deployment to scale (skips when the cluster under test does not autoscale)."""
    if not is_autoscaled(plan):
        pytest.skip(NO_AUTOSCALING)
    found = gpu_target(plan)
    if found is None:
        pytest.skip("the expectations name no GPU deployment that the Serve config has")
    return found
