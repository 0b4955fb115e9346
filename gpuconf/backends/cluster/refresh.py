"""refresh() on a real cluster: the API server's pods and nodes read again, new Ray nodes probed and tied to pods."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from gpuconf.backends.cluster.nodeprobe import records_from, tie_to_pods
from gpuconf.backends.cluster.scaling import ScalingBudget
from gpuconf.backends.cluster.target import ClusterTarget
from gpuconf.kube.deploy import KubeDeployment
from gpuconf.live.contract import LiveCluster
from gpuconf.model.plan import Plan


def cluster_refresher(
    dep: KubeDeployment,
    plan: Plan,
    target: ClusterTarget,
    alive_ids: Callable[[], set[str]],
    probe: Callable[[], list[dict[str, Any]]],
    budget: ScalingBudget | None,
) -> Callable[[LiveCluster], None]:
    """The LiveCluster.refresher of the cluster backend.

    Pods (KubeRay's, created or deleted by an autoscaler since) and nodes (a node autoscaler's) are
    read again every time. The node-probe Ray job, which ties a Ray node to its pod and Kubernetes
    node, runs again only when a Ray node joined since the last read: it is a job on every node,
    too heavy for each sample. A Ray node that left is dropped. `budget` (--allow-scaling) is charged
    first, so a spent budget stops the scaling check before it reads anything.
    """
    exp = plan.expectations

    def refresh(live: LiveCluster) -> None:
        if budget is not None:
            budget.charge()
        dep.refresh()
        alive = alive_ids()
        if alive - set(live.records):
            probed = tie_to_pods(probe(), dep.pods)
            live.records = records_from(probed, dep.nodes, exp.is_gpu_node, exp.gpu_resource)
        else:
            live.records = {k: r for k, r in live.records.items() if k in alive}
        live.pending = dep.pending()
        target.unready_pods = [p.name for p in dep.pods if p.node and not p.ready]
        if live.kube is not None:
            live.kube = dataclasses.replace(live.kube, pods=dep.pods, nodes=dep.nodes)

    return refresh
