"""Run `entrypoints/node_probe.py` as a Ray job and tie each Ray node to its pod and Kubernetes node.

A driver outside the cluster cannot join Ray over a port-forward; a Ray job runs its driver on
the head instead (gpuconf.backends.cluster.jobs: the code travels inline, nothing is uploaded). Each node's zero-GPU probe
reports its hostname (the pod name) and the downward-API node name; both are checked against
the API server's pods rather than trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpuconf.backends.cluster.jobs import run_inline_job
from gpuconf.inputs.resources import GpuPredicate
from gpuconf.kube.objects import NodeInfo, PodInfo
from gpuconf.live.observe import PodRecord

MARK = "GPUCONF_NODE_PROBES="


@dataclass
class ProbedNode:
    """One Ray node: what its zero-GPU probe saw, and the pod and node the API server knows it as."""

    node_id: str
    is_head: bool
    resources: dict[str, float]
    labels: dict[str, str]
    probe: dict[str, Any]
    pod: PodInfo | None

    @property
    def pod_name(self) -> str:
        """The pod the probe ran in: the downward-API pod name, else the hostname (Kubernetes sets it to the pod name)."""
        return pod_name_of(self.probe)

    @property
    def node_name(self) -> str | None:
        """The Kubernetes node from the downward API (GPUCONF_NODE_NAME)."""
        return (self.probe.get("env") or {}).get("GPUCONF_NODE_NAME")


def run_node_probe(dashboard_url: str) -> list[dict[str, Any]]:
    """Run the node-probe job (its code inline: nothing uploaded), return its parsed output."""
    return run_inline_job(dashboard_url, "sys.modules['gpuconf_node_probe'].main()", MARK, "node probe")


def pod_name_of(probe: dict[str, Any]) -> str:
    """The pod a probe ran in: GPUCONF_POD_NAME (downward API), else its hostname."""
    return str((probe.get("env") or {}).get("GPUCONF_POD_NAME") or probe.get("hostname") or "")


def tie_to_pods(raw: list[dict[str, Any]], pods: list[PodInfo]) -> list[ProbedNode]:
    """Each probed Ray node with the pod it ran in (None when the API server has no such pod)."""
    by_name = {p.name: p for p in pods}
    return [
        ProbedNode(
            str(r["node_id"]),
            bool(r.get("is_head")),
            dict(r.get("resources") or {}),
            dict(r.get("labels") or {}),
            dict(r.get("probe") or {}),
            by_name.get(pod_name_of(r.get("probe") or {})),
        )
        for r in raw
    ]


def records_from(
    probed: list[ProbedNode], nodes: list[NodeInfo], gpu_node: Any, gpu_resource: str | GpuPredicate
) -> dict[str, PodRecord]:
    """PodRecords (by Ray node id) for the suites, from the API server's pods and nodes.

    `gpu_node(labels)` says whether a node's labels make it a GPU node (the expectations).
    A Ray node whose pod is unknown is kept with what its probe says, so a check can name it.
    """
    node_labels = {n.name: n.labels for n in nodes}
    out = {}
    for p in probed:
        k8s_node = p.pod.node if p.pod and p.pod.node else (p.node_name or "")
        group = p.pod.group if p.pod else p.labels.get("ray.io/node-group", "")
        out[p.node_id] = PodRecord(
            p.node_id,
            p.pod.name if p.pod else p.pod_name,
            k8s_node,
            group,
            p.is_head,
            bool(gpu_node(node_labels.get(k8s_node, {}))),
            float(p.pod.gpu_limit(gpu_resource)) if p.pod else 0.0,
            p.resources,
            p.labels,
        )
    return out
