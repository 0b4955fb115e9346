"""Wait for a RayCluster to come up, or to settle with pods the scheduler cannot place."""

from __future__ import annotations

from dataclasses import dataclass, field

from gpuconf.kube.client import KubeClient
from gpuconf.kube.objects import PodInfo
from gpuconf.waits import wait_until

READY_CONDITIONS = ("HeadPodReady", "RayClusterProvisioned")


@dataclass
class ClusterState:
    """What the wait ended on: every pod, and those the scheduler left Pending."""

    pods: list[PodInfo]
    conditions: dict[str, str] = field(default_factory=dict)

    @property
    def pending(self) -> list[PodInfo]:
        """Pods with no node and a FailedScheduling event."""
        return [p for p in self.pods if p.node is None]

    @property
    def bound(self) -> list[PodInfo]:
        """Pods the scheduler bound to a node."""
        return [p for p in self.pods if p.node is not None]


def conditions_of(raycluster: dict | None) -> dict[str, str]:
    """`status.conditions` as {type: status}."""
    conds = ((raycluster or {}).get("status") or {}).get("conditions") or []
    return {str(c.get("type")): str(c.get("status")) for c in conds}


def wait_for_raycluster(
    kube: KubeClient, namespace: str, name: str, expected_pods: int, tier: str = "kube"
) -> ClusterState:
    """Until `HeadPodReady` and `RayClusterProvisioned` are True — or, failing fast, until all
    `expected_pods` exist and every one is either Ready on a node or unbound with a FailedScheduling
    event (a legitimate outcome for some regression cases: the Pending pods are returned)."""
    settled_since: list[int] = []  # Pending must hold for two polls in a row, not be a passing state

    def probe() -> ClusterState | None:
        conds = conditions_of(kube.read_raycluster(namespace, name))
        pods = kube.cluster_pods(namespace, name)
        if all(conds.get(c) == "True" for c in READY_CONDITIONS) and len(pods) >= expected_pods:
            return ClusterState(pods, conds)
        unplaced = [p for p in pods if p.node is None]
        settled = (
            len(pods) >= expected_pods
            and unplaced
            and all(p.failed_scheduling for p in unplaced)
            and all(p.ready for p in pods if p.node is not None)
        )
        if not settled:
            settled_since.clear()
            return None
        settled_since.append(1)
        return ClusterState(pods, conds) if len(settled_since) >= 2 else None

    def fail_fast() -> str | None:
        rc = kube.read_raycluster(namespace, name) or {}
        status = rc.get("status") or {}
        if status.get("state") == "failed" or status.get("reason"):
            return f"RayCluster {namespace}/{name} failed: {status.get('reason') or status}"
        return None

    return wait_until(
        probe,
        f"RayCluster {namespace}/{name} ({' and '.join(READY_CONDITIONS)}, {expected_pods} pods)",
        tier=tier,
        interval=0.5 if tier == "kube" else 2.0,
        fail_fast=fail_fast,
    )
