"""Is a cluster there? A fast answer, never a hang."""

from __future__ import annotations


def cluster_answers(kubeconfig: str | None, timeout_s: float = 5.0) -> bool:
    """True when the API server of `kubeconfig` (None: in-cluster) answers /version within the timeout."""
    try:
        from kubernetes import client

        from gpuconf.kube.client import api_client_for

        api_client = api_client_for(kubeconfig)
        client.VersionApi(api_client).get_code(_request_timeout=timeout_s)
        return True
    except Exception:  # unreachable, bad kubeconfig, TLS: all mean "no cluster here"
        return False
