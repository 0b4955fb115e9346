"""Scaling time: from deploy to replicas RUNNING, zero GPU workers → one replica, and one → N (the GPU capacity).

Each round starts from the state it names (set up outside the timing): no app and the GPU group
scaled down to its fixed pods for zero → one; one replica RUNNING for one → N. The time includes
Ray's autoscaler seeing the demand, the new Ray nodes joining and Serve starting the replicas.
Needs an autoscaling RayCluster (``--manifests=overlays/scaling``); skips without one.
"""

from __future__ import annotations

from typing import Any

import pytest

from gpuconf.live.apps import ServeApps
from gpuconf.live.contract import LiveCluster
from gpuconf.live.settings import Settings
from gpuconf.live.timeline import Sample, Timeline
from gpuconf.model.plan import Plan
from gpuconf.testing.evidence import Evidence
from suites.scaling.scaling import (
    GpuTarget,
    fixed_gpu_pods,
    gpu_capacity,
    gpu_groups,
    stuck_pending,
    submit,
    wait_for,
    with_replicas,
)

pytestmark = [pytest.mark.ray, pytest.mark.autoscaling]
ROUNDS = 2


def _scaled_to(live: LiveCluster, plan: Plan, target: GpuTarget, settings: Settings, n: int) -> Sample:
    line = Timeline(target.app, target.deployment)
    submit(live, with_replicas(plan, target, n), settings.model)
    groups = gpu_groups(plan)

    def done(s: Sample) -> bool:
        why = stuck_pending(s, groups)
        if why:
            pytest.fail(why, pytrace=False)
        return len(s.running()) >= n

    return wait_for(line, live, f"{n} replicas", done, f"{n} replica(s) of {target.deployment} RUNNING")


def _at_zero(live: LiveCluster, plan: Plan, target: GpuTarget, apps: ServeApps) -> None:
    apps.remove_all()
    floor = fixed_gpu_pods(plan)
    wait_for(
        Timeline(target.app, target.deployment),
        live,
        "idle",
        lambda s: len(s.gpu_workers()) <= floor,
        f"the GPU group to scale down to its {floor} fixed pod(s) (idleTimeoutSeconds)",
    )


def test_zero_to_one_gpu_replica(
    target: GpuTarget,
    benchmark: Any,
    plan: Plan,
    live: LiveCluster,
    apps: ServeApps,
    gpuconf_settings: Settings,
    evidence: Evidence,
) -> None:
    """Seconds from deploy to one GPU replica RUNNING, with no GPU worker up at the start."""
    benchmark.group = "scaling"

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        _at_zero(live, plan, target, apps)
        return (), {}

    sample = benchmark.pedantic(lambda: _scaled_to(live, plan, target, gpuconf_settings, 1), setup=setup, rounds=ROUNDS)
    apps.current = "scaling"
    evidence.add("seconds", {"mean": benchmark.stats.stats.mean, "max": benchmark.stats.stats.max})
    evidence.add("replicas", sample.running())


def test_one_to_n_gpu_replicas(
    target: GpuTarget,
    benchmark: Any,
    plan: Plan,
    live: LiveCluster,
    apps: ServeApps,
    gpuconf_settings: Settings,
    evidence: Evidence,
) -> None:
    """Seconds from deploy to N GPU replicas RUNNING (N = the GPU capacity), from one RUNNING."""
    n = gpu_capacity(plan, target)
    if n < 2:
        pytest.skip(f"the GPU capacity is {n}: nothing to scale out to")
    benchmark.group = "scaling"
    benchmark.extra_info["n"] = n

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        _at_zero(live, plan, target, apps)
        _scaled_to(live, plan, target, gpuconf_settings, 1)
        return (), {}

    sample = benchmark.pedantic(lambda: _scaled_to(live, plan, target, gpuconf_settings, n), setup=setup, rounds=ROUNDS)
    apps.current = "scaling"
    evidence.add("n", n)
    evidence.add("seconds", {"mean": benchmark.stats.stats.mean, "max": benchmark.stats.stats.max})
    evidence.add("replicas", sample.running())
