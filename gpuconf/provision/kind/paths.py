"""Where the kind cluster's files are: its state folder outside the repository, and the shipped config.

The state folder mirrors the kwok backend's (gpuconf.provision.kwok.paths):
``${GPUCONF_KIND_STATE:-~/.cache/gpuconf/kind}``; it holds the cluster's kubeconfig.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
CLUSTER_CONFIG = REPO_ROOT / "manifests" / "kind" / "cluster.yaml"
CLUSTER_NAME = "gpuconf"


def state_dir() -> Path:
    """``$GPUCONF_KIND_STATE``, else ``~/.cache/gpuconf/kind``."""
    return Path(os.environ.get("GPUCONF_KIND_STATE") or Path.home() / ".cache" / "gpuconf" / "kind")


def kubeconfig_path() -> Path:
    """The kubeconfig of the kind cluster (written by ``up``; kind's own ~/.kube/config is left alone)."""
    return state_dir() / "kind-kubeconfig"
