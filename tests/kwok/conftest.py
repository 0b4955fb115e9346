"""Fixtures of the kwok tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuconf.backends.kwok.backend import connect
from gpuconf.errors import EnvironmentFailure
from gpuconf.kube.client import KubeClient
from gpuconf.model.plan import Plan
from gpuconf.static.check import run_check

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kube() -> KubeClient:
    """The running kwok control plane (a clear failure when it is not up)."""
    try:
        return connect()
    except EnvironmentFailure as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def plan() -> Plan:
    """The shipped RayCluster's plan (a module with a `plan` of its own uses that)."""
    return next(p for p in run_check([ROOT / "manifests"]).plans if p.target.name.startswith("RayCluster/"))
