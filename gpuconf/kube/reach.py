"""Is a cluster there? A fast answer, never a hang."""

from __future__ import annotations


def cluster_answers(kubeconfig: str | None, timeout_s: float = 5.0) -> bool:
    """True when the API server of `kubeconfig` (None: in-cluster) answers /version within `timeout_s` in all.

    No retries: urllib3's would multiply the timeout. A malformed kubeconfig raises InputError
    (bad input, exit 2), it does not read as "no cluster".
    """
    from kubernetes import client

    from gpuconf.errors import InputError
    from gpuconf.kube.client import api_client_for

    try:
        api_client = api_client_for(kubeconfig, retries=False)
    except InputError:
        raise
    except Exception:  # in-cluster without a service account
        return False
    try:
        client.VersionApi(api_client).get_code(_request_timeout=timeout_s)
        return True
    except Exception:  # refused, TLS, timeout: all mean "no cluster answers"
        return False
