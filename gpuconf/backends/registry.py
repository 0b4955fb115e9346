"""The one place a backend is named: ``--backend <name>`` → the Backend object of its package.

Each entry points at ``module:attribute``; the module is imported only when that backend is
used (the kubernetes client is slow to load, Ray slower). Adding a backend is one package under
gpuconf/backends/ and one line here (docs/backends.md has a worked example).
"""

from __future__ import annotations

import importlib
from typing import cast

from gpuconf.live.contract import Backend

BACKENDS: dict[str, str] = {
    "static": "gpuconf.backends.static:BACKEND",
    "embedded": "gpuconf.backends.embedded.backend:BACKEND",
    "kwok": "gpuconf.backends.kwok.backend:BACKEND",
    "cluster": "gpuconf.backends.cluster.backend:BACKEND",
}
# `--backend auto`: the cluster backend whenever a kubeconfig is configured, else the local one.
AUTO_LOCAL, AUTO_KUBE = "embedded", "cluster"


def names() -> tuple[str, ...]:
    """Every backend's name, in the order of the table."""
    return tuple(BACKENDS)


def get(name: str) -> Backend:
    """The backend called `name` (KeyError with the known names when there is none)."""
    try:
        module, _, attr = BACKENDS[name].partition(":")
    except KeyError:
        raise KeyError(f"no backend {name!r}; known: {', '.join(BACKENDS)}") from None
    return cast(Backend, getattr(importlib.import_module(module), attr))


def choose_backend(requested: str, kubeconfig: str | None, kubeconfig_source: str) -> tuple[str, str]:
    """The backend a run uses and why; never silent, never a fallback from a configured cluster.

    `auto` means the cluster backend whenever a kubeconfig is configured (an unreachable one is
    then an environment failure, exit 10), and the embedded backend only when none is.
    """
    if requested == AUTO_KUBE:
        return (
            requested,
            f"--backend {requested}, kubeconfig {kubeconfig} (from {kubeconfig_source})"
            if kubeconfig
            else f"--backend {requested} and no kubeconfig: the in-cluster service account",
        )
    if requested != "auto":
        return requested, f"--backend {requested}"
    if kubeconfig:
        return AUTO_KUBE, f"--backend auto and a kubeconfig ({kubeconfig}, from {kubeconfig_source})"
    return AUTO_LOCAL, "--backend auto and no kubeconfig configured (no --kubeconfig, no KUBECONFIG, no ~/.kube/config)"
