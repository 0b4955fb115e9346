"""What the cluster backend knows of the cluster: the API server's pods and nodes, and what ran in the pods."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuconf.kube.view import KubeView
from gpuconf.live.devices import DeviceCheck


@dataclass
class ClusterView(KubeView):
    """KubeView plus the device check of every pod and the node changes the suite made."""

    device_checks: dict[str, DeviceCheck | str] = field(default_factory=dict)
    fake_gpu_nodes: list[str] = field(default_factory=list)
    labelled_nodes: list[str] = field(default_factory=list)
    endpoints: dict[str, Any] = field(default_factory=dict)
    # --allow-scaling: the budget and the worker groups' replicas as found (and as restored).
    scaling: dict[str, Any] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        """KubeView's evidence plus device checks, node changes and how the head was reached."""
        out = super().evidence()
        out["device_checks"] = {
            pod: c.as_evidence() if isinstance(c, DeviceCheck) else {"error": c}
            for pod, c in self.device_checks.items()
        }
        out["fake_gpu_nodes"] = self.fake_gpu_nodes
        out["labelled_nodes"] = self.labelled_nodes
        out["endpoints"] = self.endpoints
        out["scaling"] = self.scaling
        return out
