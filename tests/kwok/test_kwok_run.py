"""A kwok run of the shipped RayCluster (the kwok backend's own start), read by two checks in turn.

- Every listening socket is reachable only through loopback. The control plane (etcd, API server,
  kwok, the operator) and the run's local Ray nodes live in the tier's network namespace, whose
  only interface is `lo`: Ray's wildcard gRPC listeners are then out of reach from the network,
  and each Ray node advertises a loopback address (outside it, `ray start
  --node-ip-address=127.0.0.1` would advertise the host's own address).
- refresh(): a pod KubeRay creates after start becomes a Ray node.

One run serves both (a run's local Ray nodes are the dearest part of it); the listeners are read
first, before refresh() adds a node.
Run: ``pytest tests/kwok --backend kwok`` with the control plane up.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpuconf.backends import registry
from gpuconf.backends.localray.bind import exposed, listeners
from gpuconf.backends.localray.launcher import LocalRayCluster
from gpuconf.kube.client import KubeClient
from gpuconf.live.contract import LiveCluster
from gpuconf.model.plan import Plan
from gpuconf.provision.kwok import netns
from gpuconf.provision.kwok.controlplane import ControlPlane
from gpuconf.waits import wait_until
from tests.runsettings import run_settings

pytestmark = [pytest.mark.local_control_plane, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def live(kube: KubeClient, plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCluster]:
    """The kwok backend's run of the shipped RayCluster, stopped after this module."""
    run = registry.get("kwok").start(plan, run_settings("kwok", ROOT / "manifests", tmp_path_factory.mktemp("kwok")))
    try:
        yield run
    finally:
        run.stop()


@pytest.mark.skipif(netns.disabled(), reason=f"{netns.ENV_OFF} keeps the kwok tier on the host's network")
def test_a_kwok_run_exposes_no_listener(live: LiveCluster) -> None:
    """Control plane, GCS, raylets, agents, dashboard and this driver: none reachable off loopback."""
    import ray

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


@pytest.mark.autoscaling
def test_a_pod_created_later_becomes_a_ray_node_on_refresh(kube: KubeClient, plan: Plan, live: LiveCluster) -> None:
    """KubeRay's new cpu-workers pod (the group scaled to two, as an autoscaler would) is a Ray node after refresh()."""
    assert live.kube is not None
    namespace, name = live.kube.namespace, live.kube.raycluster
    before = {r.pod for r in live.records.values()}
    assert len([p for p in before if "cpu-workers" in p]) == 1
    spec = json.loads(json.dumps(plan.target.cluster.spec))
    group = next(g for g in spec["workerGroupSpecs"] if g["groupName"] == "cpu-workers")
    group["replicas"] = group["maxReplicas"] = 2
    labels = (kube.read_raycluster(namespace, name) or {})["metadata"].get("labels", {})
    kube.apply_raycluster(namespace, name, spec, labels)
    new = wait_until(
        lambda: next(
            (
                p
                for p in kube.cluster_pods(namespace, name)
                if p.group == "cpu-workers" and p.node and p.ready and p.name not in before
            ),
            None,
        ),
        "KubeRay's second cpu-workers pod to be Ready",
        tier="kube",
    )
    assert new.name not in {r.pod for r in live.records.values()}  # nothing changes until refresh()
    live.refresh()
    record = next((r for r in live.records.values() if r.pod == new.name), None)
    assert record is not None, f"{new.name} did not become a Ray node: {live.failed}"
    assert (record.group, record.k8s_node) == ("cpu-workers", new.node)
    assert record.ray_labels.get("ray.io/node-group") == "cpu-workers"
    assert before < {r.pod for r in live.records.values()}
    assert live.kube.pod(new.name) is not None
