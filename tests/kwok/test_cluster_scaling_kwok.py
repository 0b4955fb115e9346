"""The cluster backend's restore of the worker groups, against the real API server and KubeRay operator (kwok).

The unit tests (tests/test_cluster_scaling.py) hold the restore logic against a fake API; here the
real API server applies its JSON patch to the RayCluster CRD, the `test` guard is the server's, and
the real operator creates the pod the raised replicas ask for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from gpuconf.backends.cluster.scaling import KubeRayClusterApi, ReplicaRestore, scaled_fields
from gpuconf.backends.kwok.backend import apply_target
from gpuconf.kube.client import KubeClient
from gpuconf.kube.deploy import KubeDeployment
from gpuconf.kube.names import new_run_id
from gpuconf.model.plan import Plan
from gpuconf.static.check import run_check
from gpuconf.waits import wait_until

pytestmark = [pytest.mark.local_control_plane, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
GPU_GROUP = "gpu-workers"


@pytest.fixture(scope="module")
def plan() -> Plan:
    """overlays/scaling's RayCluster: the GPU group at replicas 0, minReplicas 0, maxReplicas 2."""
    return next(p for p in run_check([ROOT / "overlays" / "scaling"]).plans if p.target.name.startswith("RayCluster/"))


@pytest.fixture
def dep(kube: KubeClient, plan: Plan) -> Iterator[KubeDeployment]:
    """The RayCluster in a run namespace of its own, deleted after the test."""
    deployed = apply_target(kube, plan, new_run_id(), suffix="restore")
    try:
        yield deployed
    finally:
        deployed.teardown()


def _gpu_index(obj: dict) -> int:
    return next(i for i, g in enumerate(obj["spec"]["workerGroupSpecs"]) if g["groupName"] == GPU_GROUP)


def _gpu_pods(kube: KubeClient, dep: KubeDeployment) -> list[str]:
    return [p.name for p in kube.cluster_pods(dep.namespace, dep.name) if p.group == GPU_GROUP]


def test_restore_puts_back_what_the_autoscaler_and_a_check_changed(kube: KubeClient, dep: KubeDeployment) -> None:
    api = KubeRayClusterApi(kube)
    restore = ReplicaRestore.record(api, dep.namespace, dep.name)
    assert restore.found[GPU_GROUP] == {"replicas": 0, "minReplicas": 0, "maxReplicas": 2}
    i = _gpu_index(api.read_raycluster(dep.namespace, dep.name) or {})
    # What Ray's autoscaler does (replicas up), and what a check might (a lower ceiling).
    api.patch_raycluster(
        dep.namespace,
        dep.name,
        [
            {"op": "replace", "path": f"/spec/workerGroupSpecs/{i}/replicas", "value": 1},
            {"op": "replace", "path": f"/spec/workerGroupSpecs/{i}/maxReplicas", "value": 1},
        ],
    )
    pods = wait_until(
        lambda: _gpu_pods(kube, dep) or None, f"KubeRay to create a {GPU_GROUP} pod in {dep.namespace}", tier="pods"
    )
    assert len(pods) == 1
    ops = restore.restore()
    assert [op["path"].rsplit("/", 1)[1] for op in ops] == ["groupName", "replicas", "maxReplicas"]
    now = scaled_fields(api.read_raycluster(dep.namespace, dep.name) or {})
    assert now == restore.found


def test_the_api_server_refuses_a_patch_whose_group_guard_fails(kube: KubeClient, dep: KubeDeployment) -> None:
    api = KubeRayClusterApi(kube)
    before = api.read_raycluster(dep.namespace, dep.name) or {}
    i = _gpu_index(before)
    with pytest.raises(ApiException) as raised:
        api.patch_raycluster(
            dep.namespace,
            dep.name,
            [
                {"op": "test", "path": f"/spec/workerGroupSpecs/{i}/groupName", "value": "cpu-workers"},
                {"op": "replace", "path": f"/spec/workerGroupSpecs/{i}/replicas", "value": 2},
            ],
        )
    assert raised.value.status in (409, 422), raised.value
    assert scaled_fields(api.read_raycluster(dep.namespace, dep.name) or {}) == scaled_fields(before)
