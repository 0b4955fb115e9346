"""Run `entrypoints/node_probe.py` as a Ray job and tie each Ray node to its pod and Kubernetes node.

A driver outside the cluster cannot join Ray over a port-forward; a Ray job runs its driver on
the head instead, and the job API only needs the dashboard. Each node's zero-GPU probe
reports its hostname (the pod name) and the downward-API node name; both are checked against
the API server's pods rather than trusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gpuconf.inputs.resources import GpuPredicate
from gpuconf.kube.objects import NodeInfo, PodInfo
from gpuconf.live.observe import PodRecord
from gpuconf.waits import wait_until

MARK = "GPUCONF_NODE_PROBES="
_DONE = ("SUCCEEDED", "FAILED", "STOPPED")


class NodeProbeFailed(RuntimeError):
    """The node-probe job did not produce its result; the message carries the job's log tail."""


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


def parse_job_output(logs: str) -> list[dict[str, Any]]:
    """The JSON list after the last MARK line of the job's logs."""
    lines = [line for line in logs.splitlines() if line.startswith(MARK)]
    if not lines:
        raise NodeProbeFailed(f"the node-probe job printed no {MARK} line; its log ends:\n{logs[-2000:]}")
    try:
        return list(json.loads(lines[-1][len(MARK) :]))
    except ValueError as exc:
        raise NodeProbeFailed(
            f"the node-probe job's {MARK} line is not JSON ({exc}); its log ends:\n{logs[-2000:]}"
        ) from exc


def run_node_probe(dashboard_url: str, working_dir_uri: str) -> list[dict[str, Any]]:
    """Submit the node-probe job, wait for it to end, return its parsed output."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(dashboard_url)
    job = client.submit_job(
        entrypoint="python -m entrypoints.node_probe",
        runtime_env={"working_dir": working_dir_uri},
        metadata={"app.kubernetes.io/managed-by": "gpuconf"},
    )
    status = wait_until(
        lambda: (s := str(client.get_job_status(job).value)) in _DONE and s,
        f"Ray job {job} (node probe) to finish",
        tier="serve_app",
        interval=1.0,
    )
    logs = client.get_job_logs(job)
    if status != "SUCCEEDED":
        raise NodeProbeFailed(f"the node-probe job {job} ended {status}; its log ends:\n{logs[-2000:]}")
    return parse_job_output(logs)


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
