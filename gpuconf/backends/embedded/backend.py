"""The embedded backend as the suites see it: plan → local Ray nodes → LiveCluster.

Without autoscaling, one local Ray node per pod the plan schedules. With
``enableInTreeAutoscaling: true`` the fixed pods start the same way and Ray's autoscaler adds
and removes the rest (gpuconf.backends.embedded.autoscaling); ``refresh()`` reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuconf.backends.embedded.autoscaling import Autoscaling, autoscaled
from gpuconf.backends.localray.launcher import LocalRayCluster, start_cluster
from gpuconf.backends.localray.live import live_from_cluster, records_of
from gpuconf.backends.localray.specs import pending_pods, specs_from_plan
from gpuconf.live.contract import Capability, LiveCluster
from gpuconf.live.settings import Settings
from gpuconf.model.plan import Plan
from gpuconf.model.raysched import RayNodeView


def start_embedded(plan: Plan, backend: str) -> LiveCluster:
    """Start one local Ray node per pod the plan schedules; Pending pods are reported, not started.

    `backend` is the registry's name of this backend (Settings.backend), which the LiveCluster carries.
    """
    if autoscaled(plan):
        return _start_autoscaling(plan, backend)
    # Ray cannot be told to listen on loopback only: the run gets a network namespace with only `lo`.
    cluster = start_cluster(specs_from_plan(plan), private_network=True)
    return live_from_cluster(cluster, backend, pending_pods(plan))


@dataclass
class AutoscalingTarget:
    """The Serve target of an autoscaling cluster: the live nodes, and those the autoscaler can still add.

    Serve's deploy fails fast when no live node fits a replica; here a replica may fit a node
    that does not exist yet, which is the point of scaling from zero.
    """

    cluster: LocalRayCluster
    autoscaling: Autoscaling
    live: LiveCluster | None = None
    dashboard_url: str = ""

    def serve_config(self, body: Any, model: str | None, client: Any) -> tuple[dict[str, Any], str]:
        """As on the fixed cluster."""
        return self.cluster.serve_config(body, model, client)

    def node_views(self) -> list[RayNodeView]:
        """The live nodes, then the planned pods the autoscaler may add that are not up yet."""
        live = self.live.refresh() if self.live is not None else None
        records = live.records.values() if live is not None else []
        views = [RayNodeView(r.pod, r.ray_resources, r.ray_labels) for r in records]
        return views + self.autoscaling.launchable_views({r.pod for r in records})

    def never_joined(self) -> list[str]:
        """Fixed pods whose `ray start` failed, and pods the autoscaler asked for that stay Pending."""
        pending = [f"{p['pod']} (Pending: {p['reason']})" for p in self.autoscaling.pending()]
        return self.cluster.never_joined() + pending


def _start_autoscaling(plan: Plan, backend: str) -> LiveCluster:
    added = {p.name for p in plan.pods if p.autoscaled}
    specs = [s for s in specs_from_plan(plan) if s.pod not in added]
    prepared: list[Autoscaling] = []
    cluster = start_cluster(
        specs,
        before_head=lambda temp_dir: prepared.append(Autoscaling.prepare(plan, specs, temp_dir / "autoscaler")),
        private_network=True,  # the autoscaler's nodes start from the head, in the same namespace
    )
    auto = prepared[0]
    auto.record_pids(cluster)
    fixed_pending = [p for p in pending_pods(plan) if p["pod"] not in added]
    live = live_from_cluster(cluster, backend, fixed_pending)
    target = AutoscalingTarget(cluster, auto, live, cluster.dashboard_url)
    live.serve = target

    def refresh(current: LiveCluster) -> None:
        import ray

        alive = {str(n["NodeID"]) for n in ray.nodes() if n.get("Alive")}
        fixed = {k: v for k, v in records_of(cluster).items() if k in alive}
        current.records = {**fixed, **auto.records(fixed)}
        current.pending = fixed_pending + auto.pending()

    def stop() -> int:
        try:
            return cluster.stop()
        finally:
            auto.remove()

    live.refresher = refresh
    live.stop = stop
    live.environment_notes.append(
        "Ray's autoscaler on the head with Ray's fake multinode provider: each node it launches is the "
        "plan's next pod of its group, started only when the scheduler model binds it"
    )
    return live


@dataclass(frozen=True)
class EmbeddedBackend:
    """Local Ray processes, one per pod the plan schedules; no Kubernetes."""

    summary: str = "the plan's pods as local Ray nodes (no Kubernetes); Ray's autoscaler adds the autoscaled ones"
    capabilities: frozenset[Capability] = field(
        default_factory=lambda: frozenset({Capability.RAY, Capability.AUTOSCALING})
    )

    def start(self, plan: Plan, options: Settings) -> LiveCluster:
        """See start_embedded (of the options, only the backend's name is read)."""
        return start_embedded(plan, options.backend)


BACKEND = EmbeddedBackend()
