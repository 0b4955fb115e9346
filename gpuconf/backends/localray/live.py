"""A started local Ray cluster as the suites see it: each Ray node tied to the pod it stands for."""

from __future__ import annotations

from functools import partial
from typing import Any

from gpuconf.backends.localray.launcher import LocalRayCluster
from gpuconf.backends.localray.logs import archive_ray_logs
from gpuconf.live.contract import LiveCluster
from gpuconf.live.observe import PodRecord


def records_of(cluster: LocalRayCluster) -> dict[str, PodRecord]:
    """Each joined Ray node, tied to the pod it stands for."""
    return {
        n.node_id: PodRecord(
            n.node_id,
            n.spec.pod,
            n.spec.k8s_node,
            n.spec.group,
            n.spec.is_head,
            n.spec.gpu_node,
            float(n.spec.gpus_held),
            n.resources,
            n.labels,
            n.spec.physical_gpus,
        )
        for n in cluster.alive
        if n.node_id
    }


def failed_of(cluster: LocalRayCluster) -> list[dict[str, Any]]:
    """Nodes whose `ray start` exited or never joined, with the end of their log."""
    return [
        {
            "pod": n.spec.pod,
            "group": n.spec.group,
            "exit_code": n.exit_code,
            "argv": n.argv[2:],
            "log_tail": n.log_tail(6),
        }
        for n in cluster.failed
    ]


def refresh_from(cluster: LocalRayCluster, live: LiveCluster) -> None:
    """Bring `live` up to date with the nodes `cluster` has now."""
    live.records = records_of(cluster)
    live.failed = failed_of(cluster)


def live_from_cluster(cluster: LocalRayCluster, backend: str, pending: list[dict[str, str]]) -> LiveCluster:
    """Wrap a started local cluster for the suites; diagnose() archives its Ray logs."""
    live = LiveCluster(
        backend,
        records_of(cluster),
        pending,
        failed_of(cluster),
        dict(cluster.stage_s),
        cluster.dashboard_url,
        cluster,
        cluster.stop,
        [{"index": g.index, "uuid": g.uuid, "name": g.name} for g in cluster.host_gpus],
        refresher=lambda live: refresh_from(cluster, live),
        diagnoser=partial(archive_ray_logs, cluster),
    )
    live.environment_notes += [
        f"{n.spec.pod}: the pod's env {name} was not applied to its local Ray node: {why}"
        for n in cluster.nodes
        for name, why in n.env_left_out.items()
    ]
    return live
