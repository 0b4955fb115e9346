"""Placement as the API server records it: GPU pods on GPU nodes, the rest off them, replicas where their pods are."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gpuconf.live.contract import LiveCluster, Observed
from gpuconf.model.plan import Plan, dra_gpu_count
from gpuconf.model.scheduler import tolerates
from gpuconf.testing.evidence import Evidence

pytestmark = pytest.mark.kube_api


def _view(live_cluster: LiveCluster) -> Any:
    if live_cluster.kube is None:
        pytest.skip(f"the {live_cluster.backend} backend gives no view of the Kubernetes API")
    return live_cluster.kube


def _gpu_groups(plan: Plan) -> set[str]:
    """Groups that host a replica of an expected-GPU deployment, by the plan's placement."""
    return {
        plan.ray_node(n).group.label
        for d in plan.deployments
        if plan.expectations.gpu_deployment(d.demand.app, d.demand.deployment)
        for n in d.placed
    }


def _gpu_pods(view: Any, plan: Plan) -> list[Any]:
    res = plan.expectations.gpu_resource
    groups = _gpu_groups(plan)
    return [p for p in view.pods if p.node and (p.gpu_limit(res) > 0 or p.group in groups)]


def test_gpu_pods_bound_to_gpu_nodes(live_cluster: LiveCluster, plan: Plan, evidence: Evidence) -> None:
    """Pods with a GPU limit (or of groups hosting expected-GPU replicas) sit on labelled nodes with GPUs:
    allocatable GPUs of the device plugin, or GPU devices the pool's ResourceSlices publish (DRA)."""
    view = _view(live_cluster)
    res = plan.expectations.gpu_resource
    pool = {n.name: n for n in plan.nodes}
    rows, problems = [], []
    for pod in _gpu_pods(view, plan):
        node = view.node(pod.node)
        gpus = plan.expectations.gpus(node.allocatable) if node else Decimal(0)
        dra = dra_gpu_count(pool[pod.node]) if pod.node in pool else 0
        labelled = bool(node) and plan.expectations.is_gpu_node(node.labels, node.allocatable, dra)
        rows.append(
            {
                "pod": pod.name,
                "group": pod.group,
                "node": pod.node,
                "node_labels": node.labels if node else None,
                f"allocatable {res}": str(gpus),
                "DRA GPU devices": dra,
                "gpu_node_labels": labelled,
            }
        )
        if not labelled:
            problems.append(f"{pod.name} is on {pod.node}, which lacks the expected GPU node labels")
        if gpus <= 0 and dra <= 0:
            problems.append(f"{pod.name} is on {pod.node}, which has no allocatable {res} and no DRA GPU device")
    evidence.add("gpu_pods", rows)
    assert rows, "no GPU pod is bound to a node"
    assert not problems, "; ".join(problems)


def test_pods_without_gpu_limit_off_gpu_nodes(live_cluster: LiveCluster, plan: Plan, evidence: Evidence) -> None:
    """Pods with no GPU limit (the head, CPU workers) are not bound to nodes with allocatable GPUs."""
    view = _view(live_cluster)
    res = plan.expectations.gpu_resource
    rows, problems = [], []
    for pod in view.pods:
        if not pod.node or pod.gpu_limit(res) > 0:
            continue
        node = view.node(pod.node)
        gpus = node.allocatable.get(res, Decimal(0)) if node else Decimal(0)
        rows.append({"pod": pod.name, "group": pod.group, "node": pod.node, f"allocatable {res}": str(gpus)})
        if gpus > 0:
            problems.append(f"{pod.name} ({pod.group}, no {res} limit) is on {pod.node}, which has {gpus} GPU(s)")
    evidence.add("non_gpu_pods", rows)
    assert not problems, "; ".join(problems)


def test_gpu_pod_tolerations_match_node_taints(live_cluster: LiveCluster, plan: Plan, evidence: Evidence) -> None:
    """Every NoSchedule/NoExecute taint of a GPU pod's node is tolerated by the pod."""
    view = _view(live_cluster)
    rows, problems = [], []
    for pod in _gpu_pods(view, plan):
        node = view.node(pod.node)
        taints = [t for t in (node.taints if node else []) if t.get("effect") in ("NoSchedule", "NoExecute")]
        untolerated = [t for t in taints if not tolerates(pod.tolerations, t)]
        rows.append(
            {
                "pod": pod.name,
                "node": pod.node,
                "taints": taints,
                "tolerations": pod.tolerations,
                "untolerated": untolerated,
            }
        )
        problems += [f"{pod.name} does not tolerate {t} of {pod.node}" for t in untolerated]
    evidence.add("tolerations", rows)
    assert rows, "no GPU pod is bound to a node"
    assert not problems, "; ".join(problems)


def test_replica_node_is_its_pods_node(live_cluster: LiveCluster, observed: Observed, evidence: Evidence) -> None:
    """The node name each replica reads (GPUCONF_NODE_NAME) is its pod's spec.nodeName in the API."""
    view = _view(live_cluster)
    rows, problems = [], []
    for obs in observed.replicas:
        seen = (obs.probe.get("env") or {}).get("GPUCONF_NODE_NAME")
        pod = view.pod(obs.pod.pod) if obs.pod else None
        api_node = pod.node if pod else None
        rows.append(
            {
                "replica": obs.replica_id,
                "pod": obs.pod.pod if obs.pod else None,
                "probe_node": seen,
                "api_node": api_node,
            }
        )
        if pod is None:
            problems.append(f"{obs.replica_id}: its Ray node is tied to no pod the API knows")
        elif seen != api_node:
            problems.append(f"{obs.replica_id}: reads node {seen!r}, the API binds {pod.name} to {api_node!r}")
    evidence.add("replicas", rows)
    assert rows, "no replica was observed"
    assert not problems, "; ".join(problems)
