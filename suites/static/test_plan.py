"""Static tier: what the plan says about placement, shown with its evidence."""

from __future__ import annotations

import pytest

from gpuconf.model.plan import is_gpu_node, node_gpus
from gpuconf.static.check import CheckResult
from gpuconf.testing.evidence import Evidence

pytestmark = pytest.mark.static


def test_every_ray_pod_is_scheduled_and_starts(check_result: CheckResult, evidence: Evidence) -> None:
    """Each planned pod is bound to a node and its generated `ray start` parses."""
    rows = [
        {"target": p.target.name, "pod": pod.name, "node": pod.node, "ray_start_error": pod.group.start.error}
        for p in check_result.plans
        for pod in p.pods
    ]
    evidence.add("pods", rows)
    bad = [r for r in rows if r["node"] is None or r["ray_start_error"]]
    assert not bad, f"pods that never become Ray nodes: {bad}"


def test_gpu_deployments_fit_only_gpu_nodes(check_result: CheckResult, evidence: Evidence) -> None:
    """Every expected-GPU deployment fits at least one Ray node, and only ones on GPU nodes."""
    seen = []
    for p in check_result.plans:
        for d in p.deployments:
            if p.expectations.gpu_deployment(d.demand.app, d.demand.deployment):
                seen.append(
                    {
                        "target": p.target.name,
                        "deployment": d.demand.key,
                        "feasible": {n: p.ray_node(n).k8s_node for n in d.feasible},
                        "gpu_nodes": [n for n in d.feasible if p.ray_node(n).is_gpu_node],
                    }
                )
    evidence.add("summary", seen)
    assert seen, "the expectations name no GPU deployment found in the Serve config"
    for row in seen:
        assert row["feasible"], f"{row['deployment']} fits no Ray node"
        assert sorted(row["gpu_nodes"]) == sorted(row["feasible"]), f"{row['deployment']} fits non-GPU nodes: {row}"


def test_gpu_nodes_exist_in_the_pool(check_result: CheckResult, evidence: Evidence) -> None:
    """The node pool has GPU nodes (by the expectations' labels) with GPUs: allocatable, or DRA devices."""
    p = check_result.plans[0]
    exp = p.expectations
    gpu_nodes = {n.name: node_gpus(exp, n) for n in p.nodes if is_gpu_node(exp, n)}
    evidence.add("gpu_nodes", {name: {k: str(v) for k, v in gpus.items()} for name, gpus in gpu_nodes.items()})
    assert any(sum(gpus.values()) > 0 for gpus in gpu_nodes.values()), (
        f"no GPU node with {exp.gpu_resource} or a DRA GPU device in the pool"
    )
