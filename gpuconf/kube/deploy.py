"""One RayCluster in its own namespace: apply, wait, read back, collect diagnostics, delete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuconf.errors import EnvironmentFailure
from gpuconf.kube.client import KubeClient, NamespaceGuard
from gpuconf.kube.diagnostics import collect_diagnostics
from gpuconf.kube.names import namespace_for, run_labels
from gpuconf.kube.objects import NodeInfo, PodInfo
from gpuconf.kube.rbac import bind_run_role, wait_for_run_access
from gpuconf.kube.wait import ClusterState, wait_for_raycluster


@dataclass
class KubeDeployment:
    """A RayCluster applied into a run namespace, and what the API server made of it."""

    kube: KubeClient
    namespace: str
    name: str
    guard: NamespaceGuard
    state: ClusterState | None = None
    nodes: list[NodeInfo] = field(default_factory=list)

    @property
    def pods(self) -> list[PodInfo]:
        """The cluster's pods as last read."""
        return self.state.pods if self.state else []

    def pending(self) -> list[dict[str, str]]:
        """Pods the scheduler left Pending, with its FailedScheduling message (for reports)."""
        return [
            {"pod": p.name, "group": p.group, "reason": p.failed_scheduling or ""} for p in self.pods if p.node is None
        ]

    def bound_head(self) -> PodInfo:
        """The head pod, bound to a node; an EnvironmentFailure with the scheduler's reasons otherwise."""
        head = next((p for p in self.pods if p.is_head and p.node), None)
        if head is None:
            raise EnvironmentFailure(
                f"the head pod of {self.namespace}/{self.name} was not scheduled: "
                + "; ".join(f"{p['pod']}: {p['reason']}" for p in self.pending())
            )
        return head

    def node(self, name: str) -> NodeInfo | None:
        """A node by name."""
        return next((n for n in self.nodes if n.name == name), None)

    def evidence(self) -> dict[str, Any]:
        """Namespace, pods and nodes, for reports."""
        return {
            "namespace": self.namespace,
            "raycluster": self.name,
            "pods": [p.as_evidence() for p in self.pods],
            "nodes": [n.as_evidence() for n in self.nodes],
        }

    def refresh(self) -> None:
        """Read the cluster's pods and the nodes again (pods created or bound since the last read)."""
        conditions = self.state.conditions if self.state else {}
        self.state = ClusterState(self.kube.cluster_pods(self.namespace, self.name), conditions)
        self.nodes = self.kube.nodes()

    def keep(self) -> str:
        """--keep-on-failure: leave the namespace for inspection; return the command that deletes it."""
        self.guard.keep()
        return f"kubectl delete namespace {self.namespace}"

    def teardown(self, diagnostics_dir: Path | None = None, wait: bool = False) -> None:
        """Collect diagnostics (when a folder is given), then delete the namespace."""
        try:
            if diagnostics_dir is not None:
                collect_diagnostics(self.kube, self.namespace, diagnostics_dir, self.name)
        finally:
            self.guard.release(wait=wait)


def deploy_raycluster(
    kube: KubeClient,
    run_id: str,
    name: str,
    spec: dict[str, Any],
    expected_pods: int,
    suffix: str = "",
    diagnostics_dir: Path | None = None,
    tier: str = "kube",
    prepare: Callable[[str], None] | None = None,
) -> KubeDeployment:
    """Create a namespace, bind the run's role in it, apply the RayCluster, wait until it is up or its pods settle Pending.

    `prepare(namespace)` runs just before the apply: what the pods need in their namespace first
    (the kwok backend's ResourceClaimTemplates, from which the claim controller makes their claims).

    Everything that reaches workloads is granted by that RoleBinding (gpuconf.kube.rbac), so the
    run waits until it takes effect before the apply.

    On any failure (Ctrl-C included) diagnostics go to `diagnostics_dir` (when given) and the
    namespace is deleted before the error goes on.
    """
    namespace = kube.create_namespace(namespace_for(run_id, suffix), run_id)
    dep = KubeDeployment(kube, namespace, name, NamespaceGuard(kube, namespace))
    try:
        bind_run_role(kube, namespace, run_id)
        wait_for_run_access(kube, namespace, tier=tier)
        if prepare is not None:
            prepare(namespace)
        kube.apply_raycluster(namespace, name, spec, run_labels(run_id))
        dep.state = wait_for_raycluster(kube, namespace, name, expected_pods, tier=tier)
        dep.nodes = kube.nodes()
        return dep
    except BaseException:
        dep.teardown(diagnostics_dir)  # keep what explains the failure, then delete
        raise
