"""The allocation check's verdicts, the pod-resources decoding and the node identities, without a cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from gpuconf.live.allocation import replica_allocation_problems, resolve_gpu_ids
from gpuconf.provision.kwok.certs import ensure_pki
from gpuconf.provision.realpods.allocations import read_plugin_log
from gpuconf.provision.realpods.identity import node_kubeconfig, subject_of
from gpuconf.provision.realpods.podresources import decode_list_response

PATHS = {"GPU-fake-0": "/dev/nvidia0", "GPU-fake-1": "/dev/nvidia1"}


def _probe(nvd: str, files: list[str], cvd: str = "0", gpu_ids: list[Any] | None = None) -> dict[str, Any]:
    return {
        "env": {"NVIDIA_VISIBLE_DEVICES": nvd},
        "device_files": files,
        "cuda_visible_devices": cvd,
        "gpu_ids": [0] if gpu_ids is None else gpu_ids,
    }


def test_a_replica_holding_what_its_pod_was_allocated_passes() -> None:
    problems, facts = replica_allocation_problems(_probe("GPU-fake-1", ["/dev/nvidia1"]), ["GPU-fake-1"], PATHS)
    assert problems == []
    assert facts["replica_uses"] == {"0": "GPU-fake-1"} and facts["allocated_device_nodes"] == ["/dev/nvidia1"]


def test_every_gpu_visible_fails_and_names_the_stray_device() -> None:
    """NVIDIA_VISIBLE_DEVICES=all from the pod's env: both GPUs exposed, GPU 0 is not the allocated one."""
    probe = _probe("all", ["/dev/nvidia0", "/dev/nvidia1"])
    problems, _ = replica_allocation_problems(probe, ["GPU-fake-1"], {"GPU-fake-1": "/dev/nvidia1"})
    text = " | ".join(problems)
    assert "NVIDIA_VISIBLE_DEVICES is 'all', not the ['GPU-fake-1']" in text
    assert "can open ['/dev/nvidia0'], which were not allocated to its pod (['/dev/nvidia1'])" in text
    assert "GPU 0 is /dev/nvidia0 (a device not allocated to it)" in text


def test_another_gpu_than_the_allocated_one_fails() -> None:
    problems, _ = replica_allocation_problems(_probe("GPU-fake-0", ["/dev/nvidia0"]), ["GPU-fake-1"], PATHS)
    text = " | ".join(problems)
    assert "not the ['GPU-fake-1']" in text and "cannot see ['/dev/nvidia1']" in text
    assert "GPU 0 is /dev/nvidia0 (GPU-fake-0)" in text


def test_no_allocation_no_ray_gpu_and_an_index_past_the_devices_fail() -> None:
    assert replica_allocation_problems(_probe("", []), [], PATHS)[0] == [
        "the kubelet allocated no GPU to the replica's pod"
    ]
    problems, _ = replica_allocation_problems(
        _probe("GPU-fake-1", ["/dev/nvidia1"], cvd="1", gpu_ids=[]), ["GPU-fake-1"], PATHS
    )
    assert any("Ray gave the replica no GPU" in p for p in problems)
    assert any("GPU 1 is none of the replica's devices" in p for p in problems)
    old = {k: v for k, v in _probe("GPU-fake-1", ["/dev/nvidia1"]).items() if k != "device_files"}
    assert "does not report its device nodes" in replica_allocation_problems(old, ["GPU-fake-1"], PATHS)[0][0]


def test_gpu_ids_index_the_containers_devices_in_number_order() -> None:
    files = ["/dev/nvidia10", "/dev/nvidia2", "/dev/nvidiactl"]
    assert resolve_gpu_ids("1,0,5", files) == {"1": "/dev/nvidia10", "0": "/dev/nvidia2", "5": None}


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2), written by hand from api.proto's numbers."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_list_response_decodes_with_api_proto_field_numbers() -> None:
    devices = _field(1, b"nvidia.com/gpu") + _field(2, b"GPU-fake-1") + _field(3, _field(1, b""))  # + topology
    container = _field(1, b"ray-worker") + _field(2, devices) + bytes([3 << 3, 7])  # + cpu_ids 7 (varint)
    pod = _field(1, b"ml-cluster-gpu-workers-worker-x") + _field(2, b"gpuconf-abc") + _field(3, container)
    got = decode_list_response(_field(1, pod))
    assert [(c.namespace, c.pod, c.container, c.resource, c.device_ids) for c in got] == [
        ("gpuconf-abc", "ml-cluster-gpu-workers-worker-x", "ray-worker", "nvidia.com/gpu", ("GPU-fake-1",))
    ]


def test_plugin_log_maps_each_device_to_its_node(tmp_path: Path) -> None:
    log = tmp_path / "alloc.jsonl"
    entries = [
        {"device_ids": ["GPU-fake-1"], "devices": {"GPU-fake-1": "/dev/nvidia1"}, "envs": {}},
        {"device_ids": ["GPU-fake-0"], "devices": {"GPU-fake-0": "/dev/nvidia0"}, "envs": {}},
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    paths, answers = read_plugin_log(log)
    assert paths == PATHS and len(answers) == 2
    assert read_plugin_log(tmp_path / "absent") == ({}, [])


def test_node_certificate_is_a_node_identity_signed_by_the_ca(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki")
    kubeconfig = node_kubeconfig(pki, "https://127.0.0.1:6443", "gpu-node-1", tmp_path / "id")
    cert_path = kubeconfig.parent / "kubelet-client.crt"
    assert subject_of(cert_path) == {"CN": ["system:node:gpu-node-1"], "O": ["system:nodes"]}
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()))
    assert x509.ExtendedKeyUsageOID.CLIENT_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    user = yaml.safe_load(kubeconfig.read_text())["users"][0]
    assert user["name"] == "system:node:gpu-node-1" and user["user"]["client-certificate"] == str(cert_path)


def test_the_api_server_authorizes_nodes_and_runs_node_restriction(tmp_path: Path) -> None:
    from gpuconf.provision.kwok import build
    from gpuconf.provision.kwok.certs import Pki
    from gpuconf.provision.kwok.controlplane import PORTS, State
    from gpuconf.provision.kwok.versions import load_versions
    from gpuconf.provision.realpods.cluster import controlplane

    cp = controlplane(tmp_path)
    state = State(ports={p: 20000 + i for i, p in enumerate(PORTS)})
    argv = cp._apiserver_argv(build.components(load_versions()), state, Pki(tmp_path / "pki"))
    assert "--authorization-mode=Node,RBAC" in argv
    assert "--enable-admission-plugins=NodeRestriction" in argv
