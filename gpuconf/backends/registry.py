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
# `--backend auto`: the cluster backend when a kubeconfig answers, else this one.
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


def resolve(name: str, kubeconfig: str | None) -> str:
    """`auto` made concrete once per run; any other name is returned as it is."""
    if name != "auto":
        return name
    from gpuconf.kube.reach import cluster_answers  # imported late: the kubernetes client is slow to load

    return AUTO_KUBE if kubeconfig and cluster_answers(kubeconfig) else AUTO_LOCAL
