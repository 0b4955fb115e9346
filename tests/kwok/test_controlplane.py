"""The kwok control plane end to end: up → RayCluster → pods bound and Ready → down.

Real kube-apiserver, scheduler, controller-manager, kwok and KubeRay operator, from the
binary cache. Skipped when the binaries are not cached, unless GPUCONF_BUILD_KWOK=1 (then
the first run builds them, which takes many minutes). Uses its own state directory, so a
control plane the developer has running is left alone. Run: ``pytest tests/kwok --backend kwok``
(the central skip runs ``kwok``-marked tests only on that backend).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gpuconf.provision.kwok import build, procs
from gpuconf.provision.kwok.controlplane import ControlPlane
from gpuconf.waits import wait_until

pytestmark = pytest.mark.local_control_plane

if not build.all_cached() and not os.environ.get("GPUCONF_BUILD_KWOK"):
    pytest.skip(
        "kwok control-plane binaries are not cached; run `gpuconf kwok build` "
        "(many minutes, needs Go) or set GPUCONF_BUILD_KWOK=1",
        allow_module_level=True,
    )

client = pytest.importorskip("kubernetes.client")

NODE_POOL = [
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "cpu-node-0", "labels": {"kubernetes.io/hostname": "cpu-node-0"}},
        "status": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "gpu-node-0", "labels": {"kubernetes.io/hostname": "gpu-node-0", "gpu-node": "true"}},
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
        "status": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "nvidia.com/gpu": "1"},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "nvidia.com/gpu": "1"},
        },
    },
]


def _container(limits: dict[str, object]) -> dict[str, object]:
    return {"name": "ray", "image": "rayproject/ray:2.60.0", "resources": {"limits": limits, "requests": limits}}


RAYCLUSTER = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCluster",
    "metadata": {"name": "kwok-smoke"},
    "spec": {
        "rayVersion": "2.60.0",
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {"spec": {"containers": [_container({"cpu": "1", "memory": "2Gi"})]}},
        },
        "workerGroupSpecs": [
            {
                "groupName": "gpu-group",
                "replicas": 1,
                "minReplicas": 1,
                "maxReplicas": 1,
                "rayStartParams": {},
                "template": {
                    "spec": {
                        "nodeSelector": {"gpu-node": "true"},
                        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                        "containers": [_container({"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": 1})],
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    state = tmp_path_factory.mktemp("kwok-state")
    pool = state.parent / "node-pool.yaml"
    pool.write_text(yaml.safe_dump_all(NODE_POOL))
    cp = ControlPlane(state)
    try:
        assert cp.up([pool]) is True
        yield cp
    finally:
        cp.down()


@pytest.fixture
def namespace(plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:63].rstrip("-")
    core = client.CoreV1Api(plane.api_client())
    core.create_namespace({"metadata": {"name": name}})
    wait_until(lambda: core.read_namespaced_service_account("default", name), f"default SA in {name}", tier="kube")
    yield name
    core.delete_namespace(name)


def test_up_again_is_a_noop(plane: ControlPlane) -> None:
    assert plane.is_up()
    assert plane.up() is False


def test_nodes_are_ready_with_gpu_capacity(plane: ControlPlane) -> None:
    core = client.CoreV1Api(plane.api_client())

    def ready_nodes() -> dict[str, object]:
        nodes = {n.metadata.name: n for n in core.list_node().items}
        ready = {
            k: n
            for k, n in nodes.items()
            if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
        }
        return ready if len(ready) == 2 else {}

    nodes = wait_until(ready_nodes, "both kwok nodes Ready", tier="kube")
    assert nodes["gpu-node-0"].status.allocatable["nvidia.com/gpu"] == "1"
    assert nodes["gpu-node-0"].metadata.annotations["kwok.x-k8s.io/node"] == "fake"


def test_raycluster_pods_bound_ready_and_provisioned(plane: ControlPlane, namespace: str) -> None:
    api = plane.api_client()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", RAYCLUSTER)

    def ready_pods() -> dict[str, object]:
        pods = core.list_namespaced_pod(namespace, label_selector="ray.io/cluster=kwok-smoke").items
        ready = {
            p.metadata.labels["ray.io/node-type"]: p
            for p in pods
            if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        }
        return ready if set(ready) == {"head", "worker"} else {}

    pods = wait_until(ready_pods, f"head and worker pods Ready in {namespace}", tier="kube")
    assert pods["head"].spec.node_name == "cpu-node-0"
    assert pods["worker"].spec.node_name == "gpu-node-0"
    assert {p.status.phase for p in pods.values()} == {"Running"}

    def start_cmd(pod: client.V1Pod) -> str:
        env = {e.name: e.value for e in pod.spec.containers[0].env or []}
        return env["KUBERAY_GEN_RAY_START_CMD"]

    assert "--head" in start_cmd(pods["head"])
    assert "--num-gpus=1" in start_cmd(pods["worker"])

    def conditions() -> dict[str, str]:
        rc = custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", "kwok-smoke")
        got = {c["type"]: c["status"] for c in rc.get("status", {}).get("conditions", [])}
        return got if got.get("HeadPodReady") == got.get("RayClusterProvisioned") == "True" else {}

    wait_until(conditions, "RayCluster conditions HeadPodReady and RayClusterProvisioned", tier="kube")


def test_down_stops_every_process(plane: ControlPlane) -> None:
    state = plane.load_state()
    assert state is not None and len(state.procs) == 6
    plane.down()
    assert not any(procs.alive(p) for p in state.procs)
    assert plane.load_state() is None
    assert not plane.is_up()
    assert Path(state.procs[0].log).exists(), "logs are kept after down"
