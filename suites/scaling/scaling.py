"""What the scaling checks share: the GPU deployment under test, configs derived from the user's, waits, load."""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from gpuconf.inputs.manifests import plain
from gpuconf.live.contract import LiveCluster
from gpuconf.live.timeline import Sample, Timeline
from gpuconf.model.kuberay import autoscaler_enabled
from gpuconf.model.plan import Plan
from gpuconf.model.raysched import RayNodeView, ReplicaDemand, place_replicas
from gpuconf.testing.evidence import Evidence
from gpuconf.waits import wait_until

NO_AUTOSCALING = (
    "the RayCluster under test has no enableInTreeAutoscaling: true, so nothing scales "
    "(run the suite with --manifests=overlays/scaling, or on manifests of your own that autoscale)"
)


@dataclass(frozen=True)
class GpuTarget:
    """The expected-GPU deployment the checks scale, its group and its demand."""

    app: str
    deployment: str
    gpus_per_replica: float
    demand: ReplicaDemand


def gpu_target(plan: Plan) -> GpuTarget | None:
    """The first expected-GPU deployment of the Serve config (None: the expectations name none it has)."""
    for exp in plan.expectations.gpu_deployments:
        for d in plan.deployments:
            if (d.demand.app, d.demand.deployment) == (exp.app, exp.deployment):
                return GpuTarget(exp.app, exp.deployment, exp.gpus_per_replica, d.demand)
    return None


def is_autoscaled(plan: Plan) -> bool:
    """Whether Ray's autoscaler runs for the RayCluster under test."""
    return autoscaler_enabled(plan.target.cluster.spec)


def gpu_capacity(plan: Plan, target: GpuTarget) -> int:
    """Replicas of the GPU deployment the cluster holds with every group at maxReplicas (the plan's Ray nodes)."""
    views = [RayNodeView(n.name, n.resources, n.labels) for n in plan.ray_nodes]
    many = dataclasses.replace(target.demand, num_replicas=64, min_replicas=None, max_replicas=None)
    return len(place_replicas(many, views)[0])


def with_replicas(plan: Plan, target: GpuTarget, replicas: int | None) -> dict[str, Any]:
    """The user's Serve config with only the GPU app, at a fixed replica count (None: as the user wrote it)."""
    config = copy.deepcopy(plain(plan.target.serve.body))
    config["applications"] = [a for a in config["applications"] if a.get("name", "default") == target.app]
    if replicas is not None:
        for dep in config["applications"][0].get("deployments", []):
            if dep.get("name") == target.deployment:
                dep.pop("autoscaling_config", None)
                dep["num_replicas"] = replicas
    return config


def autoscaling_bounds(config: dict[str, Any], target: GpuTarget) -> dict[str, Any] | None:
    """The GPU deployment's autoscaling_config in a Serve config (None: it has none)."""
    for app in config.get("applications", []):
        for dep in app.get("deployments", []):
            if dep.get("name") == target.deployment and isinstance(dep.get("autoscaling_config"), dict):
                return dict(dep["autoscaling_config"])
    return None


def gpu_group_pods(live: LiveCluster) -> set[str]:
    """Pods with a Ray node on a GPU node that are not the head."""
    return {r.pod for r in live.records.values() if r.gpu_node and not r.is_head}


def wait_for(
    timeline: Timeline, live: LiveCluster, label: str, done: Any, what: str, tier: str = "serve_app"
) -> Sample:
    """Sample the timeline until `done(sample)` holds; bounded by the tier, the message says what it waited for."""

    def probe() -> Sample | None:
        sample = timeline.sample(live, label)
        return sample if done(sample) else None

    return wait_until(probe, what, tier=tier, interval=1.0)


def record(evidence: Evidence, timeline: Timeline, report_dir: Path, name: str) -> None:
    """The timeline and its plot into the evidence and the report folder."""
    evidence.add("timeline", timeline.evidence())
    try:
        paths = timeline.plot(report_dir / "scaling", name)
        evidence.add("plot", [str(p) for p in paths])
    except Exception as exc:  # the plot is for people; the timeline above is the evidence
        evidence.add("plot_error", repr(exc))


@contextmanager
def request_load(url: str, workers: int, seconds: float, stats: dict[str, int]) -> Iterator[threading.Event]:
    """A bounded request loop on loopback: `workers` threads GET `url` until `seconds` pass or the caller leaves."""
    stop = threading.Event()
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def loop() -> None:
        with requests.Session() as session:
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    ok = session.get(url, timeout=30).ok
                except requests.RequestException:
                    ok = False
                with lock:
                    stats["ok" if ok else "failed"] = stats.get("ok" if ok else "failed", 0) + 1

    threads = [threading.Thread(target=loop, name=f"gpuconf-load-{i}", daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(35)


def submit(live: LiveCluster, config: dict[str, Any], model: str | None) -> tuple[str, dict[str, Any]]:
    """Deploy a Serve config without waiting (the checks wait themselves, sampling as they go).

    Serve's own deploy wait gives up when no live node fits a replica; scaling from zero starts
    exactly there. Returns the HTTP URL and the config as deployed.
    """
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    client = ServeSubmissionClient(live.serve.dashboard_url)
    local, http_url = live.serve.serve_config(config, model, client)
    client.deploy_applications(local)
    return http_url, local


def stuck_pending(sample: Sample, groups: set[str]) -> str | None:
    """Why scaling cannot go on: a pod of a GPU group the autoscaler asked for that the scheduler leaves Pending."""
    # Only a pod the scheduler gave up on (its FailedScheduling reason): on a real control plane a
    # pod just created is Pending, without a reason, until the scheduler has looked at it.
    stuck = [p for p in sample.pending if p.get("group") in groups and p.get("reason")]
    if not stuck:
        return None
    return "; ".join(f"pod {p['pod']} (group {p['group']}) stays Pending: {p.get('reason')}" for p in stuck)


def gpu_groups(plan: Plan) -> set[str]:
    """The worker groups whose pods the plan binds to GPU nodes (fixed or autoscaled)."""
    on_gpu = {n.group.label for n in plan.ray_nodes if n.is_gpu_node and not n.group.is_head}
    gpu_limited = {g.label for g in plan.groups if not g.is_head and g.gpu_limit(plan.expectations.gpu_resource) > 0}
    return on_gpu | gpu_limited


def fixed_gpu_pods(plan: Plan) -> int:
    """GPU worker pods that run whatever the autoscaler does (each group's replicas)."""
    return sum(1 for n in plan.ray_nodes if n.is_gpu_node and not n.group.is_head and not n.autoscaled)


def gpu_ceiling(plan: Plan) -> int:
    """GPU worker pods the RayCluster can have at most: those the plan binds in the GPU groups, at maxReplicas."""
    groups = gpu_groups(plan)
    return sum(1 for n in plan.ray_nodes if n.group.label in groups and n.is_gpu_node and not n.group.is_head)
