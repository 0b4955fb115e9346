"""What the API server says about a session's cluster: its namespace, pods and nodes (LiveCluster.kube)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconf.kube.objects import NodeInfo, PodInfo


@dataclass
class KubeView:
    """The namespace, pods and nodes of a session's cluster, and how to write its diagnostics."""

    namespace: str
    raycluster: str
    pods: list[PodInfo]
    nodes: list[NodeInfo]
    # Writes the namespace's diagnostics into a folder (a failing test's reports/<test id>/).
    diagnose: Callable[[Path], Path] | None = None

    def node(self, name: str | None) -> NodeInfo | None:
        """A node by name."""
        return next((n for n in self.nodes if n.name == name), None)

    def pod(self, name: str) -> PodInfo | None:
        """A pod by name."""
        return next((p for p in self.pods if p.name == name), None)

    def evidence(self) -> dict[str, Any]:
        """The namespace, pods and nodes as plain data."""
        return {
            "namespace": self.namespace,
            "raycluster": self.raycluster,
            "pods": [p.as_evidence() for p in self.pods],
            "nodes": [n.as_evidence() for n in self.nodes],
        }
