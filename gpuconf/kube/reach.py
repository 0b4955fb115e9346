"""Is a cluster there? A fast answer, never a hang."""

from __future__ import annotations


def cluster_answers(kubeconfig: str, timeout_s: float = 5.0) -> bool:
    """True when the API server of `kubeconfig` answers /version within the timeout."""
    try:
        from kubernetes import client, config

        api_client = config.new_client_from_config(config_file=kubeconfig)
        client.VersionApi(api_client).get_code(_request_timeout=timeout_s)
        return True
    except Exception:  # unreachable, bad kubeconfig, TLS: all mean "no cluster here"
        return False
