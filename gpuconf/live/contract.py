"""The live tier's session state: a running cluster, the deployed Serve app, what the probes saw."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from gpuconf.live.observe import PodRecord, ReplicaObservation


@dataclass
class LiveCluster:
    """A running Ray cluster, whatever backend made it, with each Ray node tied to its pod."""

    backend: str
    records: dict[str, PodRecord]
    pending: list[dict[str, str]]
    failed: list[dict[str, Any]]
    stages: dict[str, float]
    dashboard_url: str
    handle: Any
    stop: Callable[[], int]
    physical_gpus: list[dict[str, Any]] = field(default_factory=list)
    # What the API server says (pods, nodes) on the kwok and cluster backends; None elsewhere.
    kube: Any = None
    # Zero-GPU probes by Ray node id, when the backend took them itself (the cluster backend's Ray job).
    node_probes: dict[str, dict[str, Any]] | None = None
    # --keep-on-failure: leave the namespace; returns the command that deletes it (kube backends).
    keep: Callable[[], str] | None = None
    # What the backend could not provide, said in the report (e.g. an old kwok control plane).
    environment_notes: list[str] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        """Pods, their Ray nodes and what did not come up."""
        out = {
            "backend": self.backend,
            "ray_nodes": [{"pod": r.pod, "k8s_node": r.k8s_node, "group": r.group, "node_id": r.node_id,
                           "resources": r.ray_resources, "labels": r.ray_labels} for r in self.records.values()],
            "pending_pods": self.pending, "failed_nodes": self.failed, "host_gpus": self.physical_gpus,
        }
        if self.kube is not None:
            out["kube"] = self.kube.evidence()
        if self.environment_notes:
            out["notes"] = self.environment_notes
        return out


@dataclass
class Observed:
    """Every replica's probe and a zero-GPU probe per node."""

    replicas: list[ReplicaObservation]
    nodes: dict[str, dict[str, Any]]
    expected_replicas: dict[str, int]

    def of(self, app: str, deployment: str) -> list[ReplicaObservation]:
        """The replicas of one deployment."""
        return [r for r in self.replicas if r.app == app and r.deployment == deployment]


class Stopwatch:
    """Stage timings for the report (time-to-ready of each stage)."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def lap(self) -> float:
        """Seconds since the stopwatch started."""
        return round(time.monotonic() - self.start, 2)
