"""Every listening socket of a live local run is reachable only through loopback.

A real head-only cluster from the shipped manifests (tests/head_runs.py), with and without the
private network, Serve started on it; every TCP listener of its Ray processes and of its driver
is read from /proc. Without the private network the same check fails: Ray's gRPC servers listen
on the wildcard address, so it is the namespace that keeps them in.
"""

from __future__ import annotations

import os

import pytest

from gpuconf.backends.localray.bind import exposed
from tests.head_runs import HeadRun

pytestmark = [pytest.mark.slow, pytest.mark.processes]


def test_a_private_run_exposes_no_listener(private_head_run: HeadRun) -> None:
    """GCS, raylet, agents, dashboard, Serve proxy and the driver: each on loopback or in a netns with only lo."""
    found = private_head_run.listeners
    names = {s.process for s in found}
    assert {"gcs_server", "raylet"} <= names, (names, private_head_run.context())  # the check saw the run's services
    assert not exposed(found), [s.as_evidence() for s in exposed(found)]
    host_ns = os.readlink("/proc/self/ns/net")
    assert all(s.netns != host_ns for s in found), "a Ray process stayed in the host's network namespace"


def test_the_check_fails_on_a_run_on_the_host_network(host_head_run: HeadRun) -> None:
    """The same run without the namespace: Ray's wildcard listeners are reported as exposed."""
    bad = exposed(host_head_run.listeners)
    assert bad, f"no listener off loopback: the check cannot fail here\n{host_head_run.context()}"
    assert {"gcs_server", "raylet"} <= {s.process for s in bad}, [s.as_evidence() for s in bad]
