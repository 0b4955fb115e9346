"""Scale-out and autoscaling: more replicas and new GPU workers land only on GPU nodes, and scale back down.

Backend-neutral: the checks read only the live-tier contract (``refresh()``, records, pending pods,
the Serve target) and Serve's replica table. Every wait samples the scaling timeline, which goes
into the evidence with its plot. They need Ray's autoscaler (``enableInTreeAutoscaling: true``,
e.g. ``--manifests=overlays/scaling``) and skip with that reason on manifests without it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gpuconf.live.apps import ServeApps
from gpuconf.live.contract import LiveCluster
from gpuconf.live.settings import Settings
from gpuconf.live.timeline import Sample, Timeline
from gpuconf.live.verdicts import accounting_problems, has_physical_gpu, placement_problem
from gpuconf.model.plan import Plan
from gpuconf.testing.evidence import Evidence
from gpuconf.waits import TIERS, WaitTimeout, timeout
from suites.scaling.scaling import (
    GpuTarget,
    autoscaling_bounds,
    fixed_gpu_pods,
    gpu_capacity,
    gpu_ceiling,
    gpu_groups,
    record,
    request_load,
    stuck_pending,
    submit,
    wait_for,
    with_replicas,
)

pytestmark = [pytest.mark.ray, pytest.mark.autoscaling]

# How long one replica more than the capacity is watched staying unplaced (the autoscaler runs every second).
OVER_CAPACITY_WATCH_S = 15.0
# How long replicas may stay unplaced with the GPU group at maxReplicas, and no pod of any group
# joining, leaving or pending, before the wait gives up (scaled with the short tier: on a loaded
# runner the autoscaler takes longer to launch a node of another group that would take them).
AT_CEILING_S = 30.0


@pytest.fixture
def timeline(
    target: GpuTarget, request: pytest.FixtureRequest, gpuconf_settings: Settings, evidence: Evidence
) -> Iterator[Timeline]:
    """This check's scaling timeline; after the check, pass or fail, it goes into the evidence with its plot."""
    line = Timeline(target.app, target.deployment)
    yield line
    if line.samples:
        record(evidence, line, gpuconf_settings.report_dir, request.node.name)


def _running(live: LiveCluster, timeline: Timeline, plan: Plan, label: str, count: int) -> Sample:
    """Wait until `count` replicas are RUNNING. Fails at once when a pod the autoscaler asked for stays
    Pending, and after AT_CEILING_S when replicas stay unplaced with the GPU group at its maxReplicas."""
    groups = gpu_groups(plan)
    ceiling = gpu_ceiling(plan)
    since: list[float] = []
    members: list[list[str]] = [[]]

    def done(s: Sample) -> bool:
        why = stuck_pending(s, groups)
        if why:
            pytest.fail(f"{label}: the autoscaler asked for GPU workers, but {why}", pytrace=False)
        # Unplaced: no Ray node yet (PENDING_ALLOCATION). A replica STARTING on a node is placed;
        # on a busy machine its actor can take longer than the window to start.
        unplaced = [r for r in s.replicas if r["state"] != "RUNNING" and not r.get("node_id")]
        pods = sorted([p["pod"] for p in s.pods] + [f"pending:{p.get('pod')}" for p in s.pending])
        if pods != members[0]:  # a pod of any group joined, left or is pending: the window starts again
            members[0] = pods
            since.clear()
        if unplaced and len(s.gpu_workers()) >= ceiling:
            since.append(time.monotonic())
            if since[-1] - since[0] > AT_CEILING_S * timeout("short") / TIERS["short"]:
                pytest.fail(
                    f"{label}: {len(unplaced)} replica(s) of {timeline.deployment} stay pending with the GPU "
                    f"group at its maxReplicas ({len(s.gpu_workers())} GPU worker pod(s), the most the RayCluster "
                    f"allows): Serve asks for {count}, so the autoscaler has no node left to add",
                    pytrace=False,
                )
        else:
            since.clear()
        return len(s.running()) >= count

    try:
        return wait_for(
            timeline, live, label, done, f"{count} replica(s) of {timeline.app}/{timeline.deployment} RUNNING"
        )
    except WaitTimeout as exc:
        pytest.fail(f"{label}: {exc}", pytrace=False)


def _settle(live: LiveCluster, timeline: Timeline, plan: Plan, serve_apps: ServeApps) -> Sample:
    """No app runs, and the GPU group is back at its fixed pods (Ray's autoscaler removed the idle ones)."""
    serve_apps.remove_all()
    floor = fixed_gpu_pods(plan)
    try:
        return wait_for(
            timeline,
            live,
            "idle",
            lambda s: len(s.gpu_workers()) <= floor,
            f"the GPU group to scale down to its {floor} fixed pod(s) with no replica left "
            "(Ray's autoscaler removes idle workers after idleTimeoutSeconds)",
        )
    except WaitTimeout as exc:
        pytest.fail(f"the GPU group did not scale down: {exc}", pytrace=False)


def test_scale_from_zero(
    target: GpuTarget,
    plan: Plan,
    live: LiveCluster,
    apps: ServeApps,
    timeline: Timeline,
    gpuconf_settings: Settings,
    evidence: Evidence,
) -> None:
    """From the GPU group at its floor, one GPU replica makes the autoscaler add GPU pods: only the GPU group
    grows, its new pods bind to GPU nodes, and the replica lands on them. Reports deploy → RUNNING."""
    before = _settle(live, timeline, plan, apps)
    before_pods = {p["pod"] for p in before.pods}
    started = time.monotonic()
    submit(live, with_replicas(plan, target, 1), gpuconf_settings.model)
    apps.current = "scaling"
    after = _running(live, timeline, plan, "scale from zero", 1)
    evidence.add("deploy_to_running_s", round(time.monotonic() - started, 2))
    new = [p for p in after.pods if p["pod"] not in before_pods]
    evidence.add("new_pods", new)
    evidence.add("replicas", after.running())
    groups = gpu_groups(plan)
    problems = []
    if fixed_gpu_pods(plan) == 0 and not new:
        problems.append("the autoscaler added no pod, yet the GPU group had none")
    problems += [
        f"group {p['group']} grew ({p['pod']}), which is not a GPU group {sorted(groups)}"
        for p in new
        if p["group"] not in groups
    ]
    problems += [f"new pod {p['pod']} runs on {p['k8s_node']}, not a GPU node" for p in new if not p["gpu_node"]]
    new_names = {p["pod"] for p in new}
    if new_names:
        problems += [
            f"replica {r['replica']} landed on {r['pod']}@{r['k8s_node']}, not on a new worker {sorted(new_names)}"
            for r in after.running()
            if r["pod"] not in new_names
        ]
    problems += timeline.misplaced()
    evidence.add("summary", f"{len(new)} new pod(s): " + ", ".join(f"{p['pod']}@{p['k8s_node']}" for p in new))
    assert not problems, "; ".join(problems)


def test_horizontal_scale_to_gpu_capacity(
    target: GpuTarget,
    plan: Plan,
    live: LiveCluster,
    apps: ServeApps,
    timeline: Timeline,
    gpuconf_settings: Settings,
    evidence: Evidence,
) -> None:
    """N = the GPU capacity the plan allows: N replicas each on a GPU worker with a GPU of its own, the
    accounting agrees; replica N+1 stays pending (reported), never placed on the head or a CPU node."""
    n = gpu_capacity(plan, target)
    evidence.add("capacity", n)
    assert n > 0, "the plan holds no replica of the GPU deployment"
    apps.remove_all()  # no replica of an earlier config is counted as one of these
    _, local = submit(live, with_replicas(plan, target, n), gpuconf_settings.model)
    apps.current = "scaling"
    _running(live, timeline, plan, f"scale to {n}", n)
    _, probes = live.refresh().observe_apps(local, {f"{target.app}/{target.deployment}": n})
    replicas = [o for o in probes.replicas if (o.app, o.deployment) == (target.app, target.deployment)]
    if len(replicas) < n:
        problems_seen = (
            f"{len(replicas)} of {n} replicas of {target.app}/{target.deployment} answered: {probes.unanswered}"
        )
        pytest.fail(problems_seen, pytrace=False)
    problems: list[str] = []
    held: dict[str, str] = {}
    for obs in replicas:
        problem = placement_problem(obs)
        if problem:
            problems.append(problem)
        physical = has_physical_gpu(obs.probe)
        problems += [f"{obs.replica_id}: {p}" for p in accounting_problems(obs, target.gpus_per_replica, physical)]
        keys = (
            [d.get("uuid") for d in obs.probe.get("devices") or []]
            if physical
            else [f"{obs.probe.get('node_id')}:{g}" for g in obs.probe.get("gpu_ids") or []]
        )
        for key in keys:
            if key in held:
                problems.append(f"GPU {key} held by both {held[key]} and {obs.replica_id}")
            held[str(key)] = obs.replica_id
    evidence.add("replicas", [r.evidence() for r in replicas])
    evidence.add("gpus_held", held)
    # One more than the capacity: Ray's autoscaler has no room left to add, so it must stay unplaced.
    submit(live, with_replicas(plan, target, n + 1), gpuconf_settings.model)
    try:
        wait_for(
            timeline,
            live,
            f"scale to {n + 1}",
            lambda s: len(s.replicas) > n,
            f"Serve to start replica {n + 1}",
        )
    except WaitTimeout as exc:
        pytest.fail(str(exc), pytrace=False)
    watch_until = time.monotonic() + OVER_CAPACITY_WATCH_S * timeout("short") / TIERS["short"]
    while time.monotonic() < watch_until:
        last = timeline.sample(live, f"{n + 1} asked")
        time.sleep(1.0)
    extra = [r for r in last.replicas if r["state"] != "RUNNING"]
    evidence.add(
        "over_capacity",
        {"asked": n + 1, "running": len(last.running()), "unplaced": extra, "pending_pods": last.pending},
    )
    if len(last.running()) > n:
        problems.append(f"{len(last.running())} replicas RUNNING, more than the GPU capacity {n}")
    if not extra:
        problems.append(f"replica {n + 1} is not reported pending: Serve lists {len(last.replicas)} replica(s)")
    problems += timeline.misplaced()
    evidence.add("summary", f"{n} RUNNING on {sorted({r.pod.pod for r in replicas if r.pod})}, {len(extra)} pending")
    assert not problems, "; ".join(problems)


def test_serve_autoscaling_grows_and_falls_back(
    target: GpuTarget,
    plan: Plan,
    live: LiveCluster,
    apps: ServeApps,
    timeline: Timeline,
    gpuconf_settings: Settings,
    evidence: Evidence,
) -> None:
    """Under a bounded request loop Serve grows the deployment to max_replicas on GPU workers only; idle, it
    falls back to min_replicas and the GPU group scales back down. Placement is checked at every sample."""
    config = with_replicas(plan, target, None)
    bounds = autoscaling_bounds(config, target)
    if bounds is None:
        pytest.skip(f"{target.app}/{target.deployment} has no autoscaling_config in the Serve config under test")
    low, high = int(bounds.get("min_replicas", 1)), int(bounds.get("max_replicas", 1))
    evidence.add("bounds", bounds)
    apps.remove_all()  # no replica of an earlier config is counted as one of these
    http_url, local = submit(live, config, gpuconf_settings.model)
    apps.current = "scaling"
    _running(live, timeline, plan, "at rest", max(low, int(bounds.get("initial_replicas", low) or low), 1))
    route = local["applications"][0].get("route_prefix", "/").rstrip("/")
    url = f"{http_url}{route}/bench?batch=256&iters=100&warmup=0&copies=0"
    stats: dict[str, int] = {}
    workers = max(2, 2 * high * int(float(bounds.get("target_ongoing_requests", 2)) + 0.999))
    with request_load(url, workers, timeout("serve_app"), stats):
        grown = _running(live, timeline, plan, "under load", high)
    evidence.add("load", {"url": url, "workers": workers, **stats})
    floor = fixed_gpu_pods(plan)

    def fell_back(s: Sample) -> bool:
        hosts = {r["pod"] for r in s.running()}
        return len(s.running()) <= low and len(s.gpu_workers()) <= max(floor, len(hosts))

    try:
        rest = wait_for(
            timeline,
            live,
            "idle",
            fell_back,
            f"{target.deployment} to fall back to {low} replica(s) and the GPU group to scale down "
            "(Serve's downscale_delay_s, then the autoscaler's idleTimeoutSeconds)",
        )
    except WaitTimeout as exc:
        pytest.fail(str(exc), pytrace=False)
    evidence.add("peak", {"replicas": len(grown.running()), "gpu_workers": [p["pod"] for p in grown.gpu_workers()]})
    evidence.add("rest", {"replicas": len(rest.running()), "gpu_workers": [p["pod"] for p in rest.gpu_workers()]})
    problems = timeline.misplaced()
    if not stats.get("ok"):
        problems.append(f"no request of the load loop succeeded ({stats})")
    evidence.add(
        "summary",
        f"{low} → {len(grown.running())} → {len(rest.running())} replicas; GPU workers {len(grown.gpu_workers())} → {len(rest.gpu_workers())}",
    )
    assert not problems, "; ".join(problems)
