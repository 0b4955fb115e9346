"""Where the kwok backend keeps things outside the repository.

- the binary cache: ``${GPUCONF_CACHE:-~/.cache/gpuconf}/bin/<component>-<version>/``
- the state directory of a running control plane:
  ``${GPUCONF_STATE:-~/.cache/gpuconf/kwok-state}`` (pids, logs, certs, kubeconfig)
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$GPUCONF_CACHE``, else ``~/.cache/gpuconf``."""
    return Path(os.environ.get("GPUCONF_CACHE") or Path.home() / ".cache" / "gpuconf")


def bin_dir(component: str, version: str) -> Path:
    """The cache folder of one component at one version, e.g. ``bin/kwok-v0.8.0``."""
    return cache_root() / "bin" / f"{component}-{version}"


def state_dir() -> Path:
    """``$GPUCONF_STATE``, else ``~/.cache/gpuconf/kwok-state``."""
    return Path(os.environ.get("GPUCONF_STATE") or Path.home() / ".cache" / "gpuconf" / "kwok-state")
