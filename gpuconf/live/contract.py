"""The live tier's contract: what a backend is, and what a started one hands the suites.

A backend (gpuconf.backends.<name>) turns a plan into a running cluster: ``start(plan, options)``
returns a :class:`LiveCluster`. The suites see only this: the Ray nodes tied to their pods, a
typed Serve target to deploy on, an optional Kubernetes view, and ``refresh()``,
``diagnose(dest)`` and ``stop()``. What a backend can do is said by its capabilities; the suites
declare the capabilities they need, and the plugin skips (with the reason) what this backend lacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gpuconf.kube.view import KubeView
from gpuconf.live.observe import PodRecord, ReplicaObservation
from gpuconf.live.replicas import DeploymentView, Prober, ReplicaProbes, local_prober, observe_running
from gpuconf.live.serve import ServeTarget

if TYPE_CHECKING:
    from gpuconf.live.settings import Settings
    from gpuconf.model.plan import Plan


class Capability(StrEnum):
    """What a backend can give a check; a suite marks the ones it needs (``@pytest.mark.<value>``)."""

    RAY = "ray"
    KUBE_API = "kube_api"
    REAL_PODS = "real_pods"
    AUTOSCALING = "autoscaling"
    LOCAL_CONTROL_PLANE = "local_control_plane"


# One line each, for the markers' help and the skip reasons.
CAPABILITY_DOCS: dict[Capability, str] = {
    Capability.RAY: "running Ray nodes to deploy the Serve config on",
    Capability.KUBE_API: "a Kubernetes API server holding the run's RayCluster, pods and nodes",
    Capability.REAL_PODS: "real containers on real nodes (images, device plugin, exec into pods)",
    Capability.AUTOSCALING: "pods created after start become Ray nodes on refresh()",
    Capability.LOCAL_CONTROL_PLANE: "the local kwok control plane (gpuconf kwok up)",
}


class Backend(Protocol):
    """One way of running the plan's cluster.

    The registry (gpuconf.backends.registry) is the only place a backend is named: ``start`` reads
    the name from ``options.backend`` (for ``LiveCluster.backend`` and its artifacts folder).
    """

    summary: str
    capabilities: frozenset[Capability]

    def start(self, plan: Plan, options: Settings) -> LiveCluster:
        """Bring the plan's cluster up; the LiveCluster's ``stop()`` undoes everything this did."""
        ...


def _no_refresh(live: LiveCluster) -> None:
    return None


@dataclass
class LiveCluster:
    """A running Ray cluster, whatever backend made it, with each Ray node tied to its pod."""

    backend: str  # the registry's name of the backend that started it (Settings.backend)
    records: dict[str, PodRecord]
    pending: list[dict[str, str]]
    failed: list[dict[str, Any]]
    stages: dict[str, float]
    dashboard_url: str
    # Where Serve configs are deployed (gpuconf.live.serve.deploy).
    serve: ServeTarget
    stop: Callable[[], int]
    physical_gpus: list[dict[str, Any]] = field(default_factory=list)
    # What the API server says (pods, nodes) on the kube backends; None elsewhere.
    kube: KubeView | None = None
    # Zero-GPU probes by Ray node id, when the backend took them itself (the cluster backend's Ray job).
    node_probes: dict[str, dict[str, Any]] | None = None
    # --keep-on-failure: leave the namespace; returns the command that deletes it (kube backends).
    keep: Callable[[], str] | None = None
    # What the backend could not provide, said in the report (e.g. an old kwok control plane).
    environment_notes: list[str] = field(default_factory=list)
    # Re-reads pods and Ray nodes into this object (set by the backend; default: nothing changes).
    refresher: Callable[[LiveCluster], None] = _no_refresh
    # Writes the backend's own diagnostics (Ray logs, the namespace's events) into a folder.
    diagnoser: Callable[[Path], object] | None = None
    # The autoscaler process the backend runs beside the head, if any (kwok: Ray's KubeRay autoscaler).
    autoscaler: Any = None
    # Probes Serve replicas from inside (gpuconf.live.replicas); None: from this process, a Ray driver.
    replica_prober: Prober | None = None

    def prober(self) -> Prober:
        """How this cluster's replicas are probed: the backend's own way, else from this process."""
        from gpuconf.waits import timeout

        return self.replica_prober or local_prober(timeout("probe"))

    def observe_apps(
        self, config: dict[str, Any] | None, wait_for: dict[str, int] | None = None
    ) -> tuple[list[DeploymentView], ReplicaProbes]:
        """Every deployment of the running apps as Serve runs them, and a probe of each running replica."""
        return observe_running(self.serve.dashboard_url, config, self.records, self.prober(), wait_for)

    def refresh(self) -> LiveCluster:
        """Re-read pods and Ray nodes (on kwok, a pod created since start becomes a Ray node); returns self."""
        self.refresher(self)
        return self

    def diagnose(self, dest: Path) -> Path | None:
        """Write what explains a failure into `dest` (a failing test's reports/<test id>/); None: nothing to write."""
        writers = [w for w in (self.diagnoser, self.kube.diagnose if self.kube else None) if w is not None]
        if not writers:
            return None
        dest.mkdir(parents=True, exist_ok=True)
        for write in writers:
            write(dest)
        return dest

    def evidence(self) -> dict[str, Any]:
        """Pods, their Ray nodes and what did not come up."""
        out: dict[str, Any] = {
            "backend": self.backend,
            "ray_nodes": [
                {
                    "pod": r.pod,
                    "k8s_node": r.k8s_node,
                    "group": r.group,
                    "node_id": r.node_id,
                    "resources": r.ray_resources,
                    "labels": r.ray_labels,
                }
                for r in self.records.values()
            ],
            "pending_pods": self.pending,
            "failed_nodes": self.failed,
            "host_gpus": self.physical_gpus,
        }
        if self.kube is not None:
            out["kube"] = self.kube.evidence()
        if self.environment_notes:
            out["notes"] = self.environment_notes
        return out


@dataclass
class Observed:
    """Every deployment as Serve runs it, every replica's probe and a zero-GPU probe per node."""

    replicas: list[ReplicaObservation]
    nodes: dict[str, dict[str, Any]]
    expected_replicas: dict[str, int]
    deployments: list[DeploymentView] = field(default_factory=list)
    # "app/deployment replica_id" -> why that replica's probe gave no answer.
    unanswered: dict[str, str] = field(default_factory=dict)

    def of(self, app: str, deployment: str) -> list[ReplicaObservation]:
        """The replicas of one deployment."""
        return [r for r in self.replicas if r.app == app and r.deployment == deployment]

    def deployment(self, app: str, deployment: str) -> DeploymentView | None:
        """One deployment as Serve runs it (None: no such deployment is running)."""
        return next((d for d in self.deployments if d.app == app and d.name == deployment), None)

    def missing(self, app: str, deployment: str) -> str:
        """Why a deployment has no replica to check: not running, scaled to 0, or its replicas did not answer."""
        view = self.deployment(app, deployment)
        if view is None:
            running = ", ".join(d.key for d in self.deployments) or "none"
            return f"{app}/{deployment} is not a deployment of the running apps (running: {running})"
        if view.target_replicas == 0:
            return f"{app}/{deployment} runs 0 replicas (autoscaling_config: {view.options.get('autoscaling_config')})"
        silent = {k: v for k, v in self.unanswered.items() if k.startswith(f"{app}/{deployment} ")}
        return f"{app}/{deployment}: none of {view.target_replicas} replica(s) answered the probe: {silent}"


class Stopwatch:
    """Stage timings for the report (time-to-ready of each stage)."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def lap(self) -> float:
        """Seconds since the stopwatch started."""
        return round(time.monotonic() - self.start, 2)
