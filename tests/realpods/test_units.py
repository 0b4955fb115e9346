"""Pieces of the realpods tier that need no cluster: configs, the fake runtime, DNS records, overlay."""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import SimpleNamespace

import yaml

from gpuconf.provision.realpods.dns import hosts_lines
from gpuconf.provision.realpods.layout import NODES
from gpuconf.provision.realpods.node import containerd_config, kubelet_config, node_ports
from gpuconf.provision.realpods.nvidia_runtime import expose, wanted

REPO = Path(__file__).resolve().parents[2]


def test_containerd_restricts_oom_score_adj_and_keeps_each_node_apart(tmp_path: Path) -> None:
    configs = [tomllib.loads(containerd_config(n, tmp_path / n.name)) for n in NODES]
    cri = [c["plugins"]["io.containerd.grpc.v1.cri"] for c in configs]
    assert all(c["restrict_oom_score_adj"] is True for c in cri)
    assert len({c["grpc"]["address"] for c in configs}) == len(NODES)
    assert len({c["root"] for c in configs}) == len(NODES)
    runtimes = [c["containerd"]["runtimes"]["runc"]["options"]["BinaryName"] for c in cri]
    assert runtimes[0] == "/usr/sbin/runc" and runtimes[1].endswith("nvidia-runc")  # GPU node only


def test_kubelet_config_uses_real_field_names(tmp_path: Path) -> None:
    cfg = kubelet_config(NODES[1], tmp_path, node_ports(1))
    # Lenient decoding drops unknown fields silently: these are the v1beta1 names.
    assert cfg["podLogsDir"] and cfg["failCgroupV1"] is False and cfg["address"] == NODES[1].ip
    assert cfg["cgroupRoot"] == "/gpuconf-realpods/gpu-node-1"
    assert node_ports(0) != node_ports(1)


def test_fake_runtime_exposes_what_nvidia_visible_devices_names() -> None:
    assert wanted(None, 2) == [] and wanted("void", 2) == [] and wanted("all", 2) == [0, 1]
    assert wanted("GPU-fake-1", 2) == [1]
    spec = {"process": {"env": ["NVIDIA_VISIBLE_DEVICES=all"]}, "linux": {}}
    assert expose(spec, 2)
    assert [d["path"] for d in spec["linux"]["devices"]] == ["/dev/nvidia0", "/dev/nvidia1"]
    untouched = {"process": {"env": ["PATH=/bin"]}}
    assert not expose(untouched, 2) and "linux" not in untouched


def test_dns_records_from_endpoint_slices() -> None:
    ep = SimpleNamespace(addresses=["10.244.1.5"], hostname=None)
    s = SimpleNamespace(
        metadata=SimpleNamespace(namespace="ns", labels={"kubernetes.io/service-name": "c-head-svc"}), endpoints=[ep]
    )
    assert hosts_lines([s]) == ["10.244.1.5 c-head-svc.ns.svc.cluster.local"]


def _containers(doc: dict) -> list[dict]:
    spec = doc["spec"].get("rayClusterConfig", doc["spec"])
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]


def test_overlay_changes_sizes_and_the_shared_python_only() -> None:
    for name in ("raycluster.yaml", "rayservice.yaml"):
        base = yaml.safe_load((REPO / "manifests" / name).read_text())
        over = yaml.safe_load((REPO / "overlays" / "realpods" / name).read_text())
        assert over["metadata"]["annotations"]["gpuconf.io/overlay"] == "realpods"
        for b, o in zip(_containers(base), _containers(over), strict=True):
            assert o["image"] == b["image"]
            assert {k: v for k, v in o["resources"]["limits"].items() if k not in ("cpu", "memory")} == {
                k: v for k, v in b["resources"]["limits"].items() if k not in ("cpu", "memory")
            }
            assert o["resources"]["limits"]["cpu"] == "1" and o["resources"]["limits"]["memory"] == "3Gi"
            assert all(m["readOnly"] for m in o["volumeMounts"])
