"""Every listening socket of a kwok run is reachable only through loopback.

The control plane (etcd, API server, kwok, the operator) and the run's local Ray nodes live in
the tier's network namespace, whose only interface is `lo`: Ray's wildcard gRPC listeners are
then out of reach from the network, and each Ray node advertises a loopback address (outside
it, `ray start --node-ip-address=127.0.0.1` would advertise the host's own address).
Run: ``pytest tests/kwok --backend kwok`` with the control plane up.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from gpuconf.backends import registry
from gpuconf.backends.localray.bind import exposed, listeners
from gpuconf.backends.localray.launcher import LocalRayCluster
from gpuconf.kube.client import KubeClient
from gpuconf.provision.kwok import netns
from gpuconf.provision.kwok.controlplane import ControlPlane
from tests.runsettings import run_settings

pytestmark = [pytest.mark.local_control_plane, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(netns.disabled(), reason=f"{netns.ENV_OFF} keeps the kwok tier on the host's network")
def test_a_kwok_run_exposes_no_listener(kube: KubeClient, tmp_path: Path) -> None:
    """Control plane, GCS, raylets, agents, dashboard and this driver: none reachable off loopback."""
    import ray

    from gpuconf.static.check import run_check

    plan = next(p for p in run_check([ROOT / "manifests"]).plans if p.target.name.startswith("RayCluster/"))
    live = registry.get("kwok").start(plan, run_settings("kwok", ROOT / "manifests", tmp_path))
    try:
        local: LocalRayCluster = live.serve  # type: ignore[assignment]
        state = ControlPlane().load_state()
        assert state is not None
        pids = [n.proc.pid for n in local.nodes] + [p.pid for p in state.procs] + [os.getpid()]
        found = listeners(pids)
        names = {s.process for s in found}
        assert {"gcs_server", "raylet", "kube-apiserver", "etcd"} <= names, names  # it saw the run's services
        assert not exposed(found), [s.as_evidence() for s in exposed(found)]
        outside = [s.as_evidence() for s in found if not s.netns_lo_only]
        assert not outside, f"processes of the run outside a namespace with only lo: {outside}"
        addresses = {n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
        assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses
    finally:
        live.stop()
