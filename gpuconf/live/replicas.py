"""The Serve apps as deployed, from Serve's own details: every deployment, its options and its replicas.

Serve's details (the dashboard's ``/api/serve/applications/``) list each deployment with its
options as deployed (``ray_actor_options``, ``num_replicas``, ``autoscaling_config``: options set
in ``@serve.deployment`` code included), the number of replicas it aims at, and each replica
with its actor name, Ray node and pid. ``observe`` probes every running replica from inside
its own process (``entrypoints.replica_probe``) and ties it to the pod of its Ray node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpuconf.live.observe import PodRecord, ReplicaObservation

#: The options a verdict reads, as Serve's details spell them.
OPTIONS = ("ray_actor_options", "num_replicas", "autoscaling_config", "max_ongoing_requests")

#: Probes a list of targets (each with ``actor_name``); every row comes back with ``probe`` or ``error``.
Prober = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@dataclass(frozen=True)
class ReplicaRef:
    """One replica as Serve lists it."""

    app: str
    deployment: str
    replica_id: str
    state: str
    actor_name: str
    node_id: str | None
    pid: int | None


@dataclass
class DeploymentView:
    """One deployment of a running app: its options as deployed, where each came from, its replicas."""

    app: str
    name: str
    status: str
    target_replicas: int
    options: dict[str, Any]
    sources: dict[str, str]
    replicas: list[ReplicaRef] = field(default_factory=list)

    @property
    def key(self) -> str:
        """``app/deployment``, as the expectations name it."""
        return f"{self.app}/{self.name}"

    @property
    def num_gpus(self) -> float:
        """``ray_actor_options.num_gpus`` as deployed (0 when unset)."""
        return float((self.options.get("ray_actor_options") or {}).get("num_gpus") or 0)

    def running(self) -> list[ReplicaRef]:
        """The replicas Serve reports RUNNING (the ones a probe can reach)."""
        return [r for r in self.replicas if r.state == "RUNNING"]

    def evidence(self) -> dict[str, Any]:
        """The deployment's options as deployed, each with its source, and its replica counts."""
        return {
            "deployment": self.key,
            "status": self.status,
            "target_replicas": self.target_replicas,
            "replicas": {r.replica_id: r.state for r in self.replicas},
            "options": {k: {"value": self.options.get(k), "from": self.sources.get(k)} for k in OPTIONS},
        }


def _config_deployments(config: dict[str, Any] | None) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for app in (config or {}).get("applications") or []:
        for dep in app.get("deployments") or []:
            out[(str(app.get("name", "default")), str(dep.get("name", "")))] = dep
    return out


def deployments_from_details(details: dict[str, Any], config: dict[str, Any] | None) -> list[DeploymentView]:
    """Every deployment of every app in Serve's details, in the order Serve lists them.

    An option is marked "config" when the Serve config sets it for that deployment, else "code"
    (set in ``@serve.deployment``, or Serve's default).
    """
    given = _config_deployments(config)
    views = []
    for app_name, app in (details.get("applications") or {}).items():
        for dep_name, dep in (app.get("deployments") or {}).items():
            deployed = dep.get("deployment_config") or {}
            in_config = given.get((str(app_name), str(dep_name)), {})
            views.append(
                DeploymentView(
                    app=str(app_name),
                    name=str(dep_name),
                    status=str(dep.get("status", "")),
                    target_replicas=int(dep.get("target_num_replicas") or 0),
                    options={k: deployed.get(k) for k in OPTIONS},
                    sources={k: "config" if k in in_config else "code" for k in OPTIONS},
                    replicas=[
                        ReplicaRef(
                            str(app_name),
                            str(dep_name),
                            str(r.get("replica_id", "")),
                            str(r.get("state", "")),
                            str(r.get("actor_name") or ""),
                            r.get("node_id"),
                            r.get("pid"),
                        )
                        for r in dep.get("replicas") or []
                    ],
                )
            )
    return views


def targets(views: list[DeploymentView]) -> list[dict[str, Any]]:
    """What the prober needs for each running replica."""
    return [
        {"app": r.app, "deployment": r.deployment, "replica_id": r.replica_id, "actor_name": r.actor_name}
        for v in views
        for r in v.running()
    ]


def local_prober(timeout_s: float) -> Prober:
    """Probes from this process, which is a Ray driver of the cluster (the local backends)."""

    def probe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from entrypoints.replica_probe import probe_replicas

        return probe_replicas(rows, timeout_s)

    return probe


@dataclass
class ReplicaProbes:
    """What the probes of one observation gave: the answers, and the replicas that did not answer."""

    replicas: list[ReplicaObservation]
    unanswered: dict[str, str]


def observe(views: list[DeploymentView], records: dict[str, PodRecord], prober: Prober) -> ReplicaProbes:
    """Probe every running replica of every deployment and tie each to the pod of its Ray node."""
    by_id = {r.replica_id: (v, r) for v in views for r in v.replicas}
    rows = prober(targets(views)) if any(v.running() for v in views) else []
    answered, unanswered = [], {}
    for row in rows:
        view, ref = by_id[str(row["replica_id"])]
        if "probe" not in row:
            unanswered[f"{view.key} {ref.replica_id}"] = str(row.get("error"))
            continue
        probe = dict(row["probe"])
        probe.update(replica_id=ref.replica_id, actor_name=ref.actor_name, round_trip_ms=row.get("round_trip_ms"))
        if ref.node_id and probe.get("node_id") and probe["node_id"] != ref.node_id:
            probe.setdefault("errors", []).append(
                {"field": "node_id", "error": f"Serve lists the replica on Ray node {ref.node_id}"}
            )
        answered.append(
            ReplicaObservation(view.app, view.name, probe, records.get(str(probe.get("node_id"))), view.evidence())
        )
    return ReplicaProbes(answered, unanswered)


def read_details(dashboard_url: str) -> dict[str, Any]:
    """Serve's details of every running app, through the dashboard (what `serve status` reads)."""
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    return dict(ServeSubmissionClient(dashboard_url).get_serve_details())


def observe_running(
    dashboard_url: str,
    config: dict[str, Any] | None,
    records: dict[str, PodRecord],
    prober: Prober,
    wait_for: dict[str, int] | None = None,
) -> tuple[list[DeploymentView], ReplicaProbes]:
    """Serve's view of the running apps, then a probe of every running replica.

    ``wait_for`` ({"app/deployment": n}): first wait until each named deployment lists at least n
    RUNNING replicas (a deployment that just scaled may still be starting some).
    """
    from gpuconf.waits import wait_until

    def ready() -> list[DeploymentView] | None:
        views = deployments_from_details(read_details(dashboard_url), config)
        have = {v.key: len(v.running()) for v in views}
        return views if all(have.get(k, 0) >= n for k, n in (wait_for or {}).items()) else None

    views = wait_until(ready, f"Serve to list RUNNING replicas {wait_for or {}}", tier="serve_app", interval=0.5)
    return views, observe(views, records, prober)
