"""Fixtures of the kwok tests."""

from __future__ import annotations

import pytest

from gpuconf.backends.kwok.backend import connect
from gpuconf.errors import EnvironmentFailure
from gpuconf.kube.client import KubeClient


@pytest.fixture(scope="module")
def kube() -> KubeClient:
    """The running kwok control plane (a clear failure when it is not up)."""
    try:
        return connect()
    except EnvironmentFailure as exc:
        pytest.fail(str(exc), pytrace=False)
