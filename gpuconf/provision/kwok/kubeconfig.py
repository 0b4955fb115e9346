"""Write kubeconfig files that point at the loopback kube-apiserver with client certificates."""

from __future__ import annotations

from pathlib import Path

import yaml

CONTEXT = "gpuconf-kwok"


def write_kubeconfig(
    path: Path, *, server: str, ca_cert: Path, client_cert: Path, client_key: Path, user: str = "admin"
) -> Path:
    """Write a one-context kubeconfig to ``path`` (mode 0600) and return ``path``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate": str(client_cert), "client-key": str(client_key)}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": CONTEXT,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
