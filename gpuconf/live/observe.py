"""Observations from inside the cluster: every replica's probe, and a zero-GPU probe on each node.

Backend-neutral: a replica is tied to its Ray node by node id, and the Ray node to
its pod and Kubernetes node by the `Pod` records the backend supplies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests

from gpuconf.waits import WaitTimeout, timeout


@dataclass(frozen=True)
class PodRecord:
    """A Ray node as the backend knows it: which pod and Kubernetes node it stands for."""

    node_id: str
    pod: str
    k8s_node: str
    group: str
    is_head: bool
    gpu_node: bool
    gpu_limit: float
    ray_resources: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
    ray_labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class ReplicaObservation:
    """One replica's probe, tied to its pod and node."""

    app: str
    deployment: str
    probe: dict[str, Any]
    pod: PodRecord | None

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
            "kernel": p.get("kernel"),
            "hostname": p.get("hostname"),
        }


def probe_replicas(
    http_url: str,
    app: str,
    route: str,
    deployment: str,
    expected: int,
    pods: dict[str, PodRecord],
    max_rounds: int = 200,
) -> list[ReplicaObservation]:
    """Ask `<route>/probe` until every one of `expected` replicas has answered (or rounds run out)."""
    url = http_url.rstrip("/") + (route.rstrip("/") or "") + "/probe"
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout("probe")
    last_error: Exception | None = None
    for _ in range(max_rounds):
        if len(seen) >= expected or time.monotonic() > deadline:
            break
        try:
            resp = requests.get(url, timeout=timeout("probe"))
            resp.raise_for_status()
            body = resp.json()
            seen.setdefault(str(body.get("replica_id")), body)
        except (requests.RequestException, ValueError) as exc:
            last_error = exc
    if len(seen) < expected:
        raise WaitTimeout(f"probed {url}: {len(seen)} of {expected} replicas answered; last error: {last_error!r}")
    return [ReplicaObservation(app, deployment, body, pods.get(str(body.get("node_id")))) for body in seen.values()]


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
