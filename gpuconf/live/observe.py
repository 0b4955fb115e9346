"""Observations from inside the cluster: a replica's probe, and a zero-GPU probe on each node.

Backend-neutral: a replica is tied to its Ray node by node id, and the Ray node to
its pod and Kubernetes node by the `Pod` records the backend supplies. The replicas themselves
are found and probed by gpuconf.live.replicas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuconf.waits import timeout


@dataclass(frozen=True)
class PodRecord:
    """A Ray node as the backend knows it: which pod and Kubernetes node it stands for."""

    node_id: str
    pod: str
    k8s_node: str
    group: str
    is_head: bool
    gpu_node: bool
    gpus_held: float  # from Kubernetes: the GPU-resource limit, or the devices DRA allocated
    ray_resources: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
    ray_labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    # The physical GPU behind each GPU the pod holds, where the backend models the device plugin
    # (gpuconf.model.gpushare); empty where the replicas' device UUIDs say it.
    physical_gpus: tuple[str, ...] = field(default=(), hash=False, compare=False)


@dataclass
class ReplicaObservation:
    """One replica's probe, tied to its pod and node."""

    app: str
    deployment: str
    probe: dict[str, Any]
    pod: PodRecord | None
    # The deployment as Serve runs it: options as deployed and where each came from.
    deployed: dict[str, Any] | None = None

    @property
    def replica_id(self) -> str:
        """Serve's unique replica id."""
        return str(self.probe.get("replica_id"))

    def evidence(self) -> dict[str, Any]:
        """The facts a verdict on this replica cites."""
        p = self.probe
        return {
            "replica": self.replica_id,
            "app": self.app,
            "deployment": self.deployment,
            "node_id": p.get("node_id"),
            "node_labels": p.get("node_labels"),
            "pod": self.pod.pod if self.pod else None,
            "k8s_node": self.pod.k8s_node if self.pod else None,
            "group": self.pod.group if self.pod else None,
            "gpu_ids": p.get("gpu_ids"),
            "accelerator_ids": p.get("accelerator_ids"),
            "cuda_visible_devices": p.get("cuda_visible_devices"),
            "torch_devices": [
                {k: d.get(k) for k in ("index", "name", "uuid", "capability")} for d in p.get("devices") or []
            ],
            "cuda": p.get("cuda"),
            "kernel": p.get("kernel"),
            "hostname": p.get("hostname"),
            "pid": p.get("pid"),
            "actor_name": p.get("actor_name"),
            "probe_round_trip_ms": p.get("round_trip_ms"),
            "options": (self.deployed or {}).get("options"),
        }


def probe_nodes(records: list[PodRecord]) -> dict[str, dict[str, Any]]:
    """Run a task that reserves no GPU on each node and return its probe, by node id."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0, num_gpus=0)
    def zero_gpu_probe() -> dict[str, Any]:
        from entrypoints.probe import collect_probe

        return collect_probe(run_kernel=False)

    refs = {
        r.node_id: zero_gpu_probe.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(r.node_id, soft=False)
        ).remote()
        for r in records
    }
    return {node_id: ray.get(ref, timeout=timeout("probe")) for node_id, ref in refs.items()}
