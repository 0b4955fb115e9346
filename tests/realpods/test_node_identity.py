"""Each kubelet has its own node identity, and the Node authorizer and NodeRestriction hold it to its node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gpuconf.provision.realpods import cluster, identity
from gpuconf.provision.realpods.layout import NODES, state_dir

CPU, GPU = NODES[0].name, NODES[1].name


def _client(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def _running_argv(name: str) -> list[str]:
    """The command line of a running process the tier recorded (e.g. ``cpu-node-1/kubelet``)."""
    data = json.loads((state_dir() / "realpods.json").read_text())
    pid = next(p["pid"] for p in data["procs"] if p["name"] == name)
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def _status(call: Any) -> int:
    from kubernetes.client.rest import ApiException

    try:
        call()
    except ApiException as err:
        return int(err.status)
    return 200


def test_each_kubelet_runs_with_its_own_node_certificate(core: Any) -> None:
    for spec in NODES:
        kubeconfig = cluster.node_kubeconfig(spec.name)
        assert f"--kubeconfig={kubeconfig}" in _running_argv(f"{spec.name}/kubelet")
        subject = identity.subject_of(kubeconfig.parent / "kubelet-client.crt")
        assert subject == {"CN": [f"system:node:{spec.name}"], "O": ["system:nodes"]}, subject


def test_apiserver_authorizes_nodes_and_restricts_them(core: Any) -> None:
    saved = cluster.controlplane().load_state()
    assert saved is not None
    apiserver = next(p for p in saved.procs if p.name == "kube-apiserver")
    argv = Path(f"/proc/{apiserver.pid}/cmdline").read_bytes().decode().split("\0")
    assert "--authorization-mode=Node,RBAC" in argv, argv
    plugins = [a.split("=", 1)[1].split(",") for a in argv if a.startswith("--enable-admission-plugins=")]
    assert plugins and "NodeRestriction" in plugins[0], argv


def test_a_kubelet_cannot_patch_another_node(core: Any) -> None:
    """cpu-node-1's identity may annotate its own Node, not gpu-node-1: the Node authorizer lets a node patch
    nodes and leaves the rest to NodeRestriction. The admin may (so the check can fail)."""
    cpu = _client(cluster.node_kubeconfig(CPU))
    body = {"metadata": {"annotations": {"gpuconf.io/identity-test": "1"}}}
    undo = {"metadata": {"annotations": {"gpuconf.io/identity-test": None}}}
    try:
        assert _status(lambda: cpu.patch_node(CPU, body)) == 200
        assert _status(lambda: cpu.patch_node(GPU, body)) == 403
        # The same patch with the admin certificate goes through: a kubelet holding that one could.
        assert _status(lambda: core.patch_node(GPU, body)) == 200
    finally:
        core.patch_node(CPU, undo)
        core.patch_node(GPU, undo)


def test_node_restriction_refuses_restricted_labels_on_its_own_node(core: Any) -> None:
    """NodeRestriction (admission, not authorization): a node may not set node-restriction.kubernetes.io/ labels."""
    cpu = _client(cluster.node_kubeconfig(CPU))
    body = {"metadata": {"labels": {"node-restriction.kubernetes.io/gpuconf": "x"}}}
    assert _status(lambda: cpu.patch_node(CPU, body)) == 403


def test_a_kubelet_cannot_read_another_nodes_pod(core: Any, gpu_pod: Any) -> None:
    """The Node authorizer's graph: a node reads the pods bound to it, and only those."""
    cpu = _client(cluster.node_kubeconfig(CPU))
    gpu = _client(cluster.node_kubeconfig(GPU))
    name = gpu_pod.metadata.name
    assert gpu_pod.spec.node_name == GPU
    assert _status(lambda: gpu.read_namespaced_pod(name, "default")) == 200
    status = _status(lambda: cpu.list_namespaced_pod("default", field_selector=f"spec.nodeName={GPU}"))
    assert status == 403, f"cpu-node-1 listed gpu-node-1's pods (HTTP {status})"
