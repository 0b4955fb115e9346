"""Two real nodes: a CPU node, and a tainted GPU node whose fake GPUs come from the device plugin."""

from __future__ import annotations

import json
from typing import Any

from gpuconf.kube.nodes import FAKE_GPU_LABEL
from gpuconf.provision.realpods import cluster
from gpuconf.provision.realpods.layout import FAKE_GPU_COUNT, state_dir
from gpuconf.provision.realpods.node import plugin_socket
from tests.realpods.conftest import wait_for


def _nodes(core: Any) -> dict[str, Any]:
    return {n.metadata.name: n for n in core.list_node().items}


def test_two_ready_nodes_with_roles(core: Any) -> None:
    nodes = _nodes(core)
    assert set(nodes) == {"cpu-node-1", "gpu-node-1"}
    for node in nodes.values():
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
        assert node.status.node_info.container_runtime_version.startswith("containerd://")
    gpu, cpu = nodes["gpu-node-1"], nodes["cpu-node-1"]
    assert gpu.metadata.labels["gpu-node"] == "true" and gpu.metadata.labels[FAKE_GPU_LABEL] == "true"
    assert [(t.key, t.effect) for t in gpu.spec.taints] == [("nvidia.com/gpu", "NoSchedule")]
    assert gpu.status.allocatable["nvidia.com/gpu"] == str(FAKE_GPU_COUNT)
    assert "nvidia.com/gpu" not in (cpu.status.allocatable or {}) and not cpu.spec.taints


def test_allocation_is_the_device_the_pod_holds(core: Any, gpu_pod: Any) -> None:
    """The plugin's Allocate answer (env + device node) is what the kubelet recorded for the pod."""
    log = wait_for(
        lambda: (t := core.read_namespaced_pod_log(gpu_pod.metadata.name, "default")) and "dev=" in t and t,
        "the probe's output",
    )
    env = log.split("env=")[1].split()[0]
    assert env.startswith("GPU-fake-"), log
    index = env.removeprefix("GPU-fake-")
    assert f"dev=nvidia{index}" in log, log
    checkpoint = json.loads(
        (
            state_dir() / "nodes" / "gpu-node-1" / "kubelet" / "device-plugins" / "kubelet_internal_checkpoint"
        ).read_text()
    )
    held = [e for e in checkpoint["Data"]["PodDeviceEntries"] if e["PodUID"] == gpu_pod.metadata.uid]
    assert [d for e in held for ids in e["DeviceIDs"].values() for d in ids] == [env]


def test_kubelet_restart_keeps_gpus_and_pods(core: Any, gpu_pod: Any) -> None:
    before = core.read_namespaced_pod(gpu_pod.metadata.name, "default").status.container_statuses[0]
    log = state_dir() / "nodes" / "gpu-node-1" / "logs" / "fakegpu.log"
    registrations = log.read_text().count("registered nvidia.com/gpu")
    cluster.restart_kubelet("gpu-node-1")
    wait_for(
        lambda: log.read_text().count("registered nvidia.com/gpu") > registrations,
        "the device plugin to register again",
    )
    wait_for(lambda: _ready_with_gpus(core), "gpu-node-1 Ready with its GPUs after the kubelet restart")
    after = core.read_namespaced_pod(gpu_pod.metadata.name, "default").status.container_statuses[0]
    assert after.container_id == before.container_id and after.restart_count == 0 and after.state.running


def _ready_with_gpus(core: Any) -> bool:
    node = core.read_node("gpu-node-1")
    ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
    return bool(ready and node.status.allocatable.get("nvidia.com/gpu") == str(FAKE_GPU_COUNT))


def test_plugin_waiting_for_a_starting_kubelet_serves_again(core: Any) -> None:
    """A plugin that came up before its kubelet still registers (a node boot, or ``realpods up``).

    The kubelet deletes every socket in its plugin folder as it starts. A plugin already retrying
    Register then reaches the kubelet, which cannot dial the socket that is gone: it must serve it
    again rather than retry forever (a CI run once ended with the GPU node at 0 GPUs this way).
    """
    node_dir = state_dir() / "nodes" / "gpu-node-1"
    log = node_dir / "logs" / "fakegpu.log"
    sock = plugin_socket(node_dir)
    registrations = log.read_text().count("registered nvidia.com/gpu")

    def plugin_retries_register() -> None:
        retries = log.read_text().count("register with kubelet:")
        sock.unlink()  # as the kubelet's start did: the plugin serves again, then finds no kubelet
        wait_for(
            lambda: log.read_text().count("register with kubelet:") > retries,
            "the plugin to retry Register while the kubelet is down",
        )

    cluster.restart_kubelet("gpu-node-1", while_stopped=plugin_retries_register)
    wait_for(
        lambda: log.read_text().count("registered nvidia.com/gpu") > registrations,
        "the device plugin to register with the started kubelet",
    )
    wait_for(lambda: _ready_with_gpus(core), "gpu-node-1 Ready with its GPUs after the kubelet started")


def test_pod_resources_api_and_plugin_log_name_the_pods_gpu(core: Any, gpu_pod: Any) -> None:
    """The kubelet's pod-resources List gives the pod the device the plugin answered for, and that device's
    node is what the container shows (the record the replica allocation check reads)."""
    from gpuconf.provision.realpods.allocations import node_allocations

    log = wait_for(
        lambda: (t := core.read_namespaced_pod_log(gpu_pod.metadata.name, "default")) and "dev=" in t and t,
        "the probe's output",
    )
    record = node_allocations("gpu-node-1")
    ids = record.devices_of("default", gpu_pod.metadata.name, "nvidia.com/gpu")
    assert ids == [log.split("env=")[1].split()[0]], (ids, log)
    assert f"dev={record.device_paths[ids[0]].removeprefix('/dev/')}" in log, (record.device_paths, log)
    assert any(
        a["device_ids"] == ids and a["envs"] == {"NVIDIA_VISIBLE_DEVICES": ids[0]} for a in record.plugin_answers
    )
    assert record.devices_of("default", gpu_pod.metadata.name, "cpu") == []
