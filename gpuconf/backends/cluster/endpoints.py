"""The head's dashboard and Serve HTTP port: port-forwards from outside, the pod IP from inside.

From a laptop or CI runner the API server's port-forward is the one way in that needs no
Service or Ingress. A suite running as a Job in the cluster reaches the head pod directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from gpuconf.backends.cluster.portforward import PortForward
from gpuconf.kube.client import KubeClient
from gpuconf.kube.dashboard import dashboard_port
from gpuconf.kube.objects import PodInfo

SERVE_PORT = 8000


def in_cluster() -> bool:
    """True inside a pod (the service-account env Kubernetes sets)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


@dataclass
class HeadEndpoints:
    """URLs of the head's dashboard and Serve proxy, and the forwards to close at the end."""

    dashboard_url: str
    serve_url: str
    forwards: list[PortForward] = field(default_factory=list)

    def close(self) -> None:
        """Close every port-forward."""
        for fwd in self.forwards:
            fwd.close()

    def as_evidence(self) -> dict[str, Any]:
        """How the head was reached."""
        return {
            "dashboard": self.dashboard_url,
            "serve": self.serve_url,
            "via": "port-forward" if self.forwards else "pod IP (in cluster)",
            "forward_errors": [e for f in self.forwards for e in f.errors],
        }


def open_endpoints(kube: KubeClient, head: PodInfo, serve_port: int = SERVE_PORT) -> HeadEndpoints:
    """Reach the head: its pod IP from inside the cluster, port-forwards through the API server otherwise."""
    port = dashboard_port(head)
    if in_cluster() and head.ip:
        return HeadEndpoints(f"http://{head.ip}:{port}", f"http://{head.ip}:{serve_port}")
    dash = PortForward(kube, head.namespace, head.name, port)
    serve = PortForward(kube, head.namespace, head.name, serve_port)
    return HeadEndpoints(dash.url, serve.url, [dash, serve])
