"""The kwok tier's DRA parts without a control plane: pools read with their ResourceSlices and
DeviceClasses, objects of another cluster made fit to apply, and the allocation comparison.

tests/kwok/test_dra.py runs the same against the real scheduler.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from gpuconf.backends.kwok.dra import real_allocations
from gpuconf.backends.kwok.fidelity import compare_allocations
from gpuconf.kube.objects import PodInfo
from gpuconf.model.dra import named_templates
from gpuconf.model.plan import Plan
from gpuconf.provision.kwok.nodes import as_kwok_node, as_local_object, load_pool, read_pools
from gpuconf.static.check import run_check

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = ROOT / "overlays" / "dra"
INVENTORY = ROOT / "tests" / "fixtures" / "inventory" / "pool-list.yaml"


def test_a_pool_folder_brings_its_slices_and_classes_beside_its_nodes() -> None:
    """overlays/dra/nodes: three Nodes, then the two ResourceSlices and two DeviceClasses kubectl printed."""
    pool = read_pools([OVERLAY / "nodes"])
    assert pool.names("Node") == {"cpu-node-1", "dra-gpu-node-1", "dra-gpu-node-2"}
    assert pool.names("DeviceClass") == {"gpu.nvidia.com", "mig.nvidia.com"}
    assert {d["spec"]["nodeName"] for d in pool.dra if d["kind"] == "ResourceSlice"} == {
        "dra-gpu-node-1",
        "dra-gpu-node-2",
    }


def test_another_kind_is_refused_unless_left_out(tmp_path: Path) -> None:
    """A Karpenter NodePool in the List is no object of this control plane: an error naming it, or left out."""
    with pytest.raises(ValueError, match=r"found kind 'NodePool' \(karpenter.sh/v1\)"):
        load_pool(INVENTORY)
    pool = load_pool(INVENTORY, other_kinds=True)
    assert pool.names("Node") == {"cpu-node-1", "gpu-l4-1", "dra-h100-1"}
    old_api = tmp_path / "beta.yaml"
    old_api.write_text(yaml.safe_dump({"apiVersion": "resource.k8s.io/v1beta1", "kind": "DeviceClass"}))
    with pytest.raises(ValueError, match=re.escape("(resource.k8s.io/v1beta1)")):
        load_pool(old_api)


def test_another_clusters_metadata_is_dropped_and_a_slice_owned_by_the_local_node() -> None:
    """kubectl's uid, resourceVersion, podCIDR and owner uid would make the apply conflict or be refused here."""
    pool = load_pool(INVENTORY, other_kinds=True)
    node = as_kwok_node(next(n for n in pool.nodes if n["metadata"]["name"] == "cpu-node-1"))
    assert not {"uid", "resourceVersion", "creationTimestamp"} & set(node["metadata"])
    assert "podCIDR" not in node["spec"]
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    slice_doc = next(d for d in pool.dra if d["kind"] == "ResourceSlice")
    before = copy.deepcopy(slice_doc)
    core = SimpleNamespace(read_node=lambda name: SimpleNamespace(metadata=SimpleNamespace(uid=f"uid-of-{name}")))
    local = as_local_object(slice_doc, core)  # type: ignore[arg-type]
    assert slice_doc == before
    assert local["metadata"] == {
        "name": "dra-h100-1-gpu.nvidia.com-7wq2k",
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "Node", "name": "dra-h100-1", "uid": "uid-of-dra-h100-1", "controller": True}
        ],
    }
    assert local["spec"] == slice_doc["spec"]


def _plan(replicas: int, tmp_path: Path) -> Plan:
    """overlays/dra with `replicas` GPU pods (one whole GPU in the pool)."""
    folder = tmp_path / "dra"
    folder.mkdir()
    for f in ("serve-config.yaml", "expectations.yaml"):
        (folder / f).write_text((OVERLAY / f).read_text())
    old = "groupName: gpu-workers\n      replicas: 1\n      minReplicas: 1\n      maxReplicas: 1"
    new = f"groupName: gpu-workers\n      replicas: {replicas}\n      minReplicas: {replicas}\n      maxReplicas: {replicas}"
    text = (OVERLAY / "raycluster.yaml").read_text()
    assert old in text
    (folder / "raycluster.yaml").write_text(text.replace(old, new))
    return next(p for p in run_check([folder], [OVERLAY / "nodes"]).plans)


def _pod(name: str, node: str | None) -> PodInfo:
    labels = {"ray.io/group": "gpu-workers", "ray.io/node-type": "worker"}
    return PodInfo(name, "ns", node, "Running" if node else "Pending", bool(node), labels, {}, {}, [])


def _claim(pod: str, devices: list[str]) -> dict[str, Any]:
    results = [dict(zip(("driver", "pool", "device"), d.split("/"), strict=True), request="gpu") for d in devices]
    return {
        "metadata": {
            "name": f"{pod}-gpu-x1",
            "annotations": {"resource.kubernetes.io/pod-claim-name": "gpu"},
            "ownerReferences": [{"kind": "Pod", "name": pod}],
        },
        "status": {"allocation": {"devices": {"results": results}}} if devices else {},
    }


def test_the_overlays_template_is_what_the_backend_applies() -> None:
    plan = next(p for p in run_check([OVERLAY]).plans)
    assert [t["metadata"]["name"] for t in named_templates([g.dra for g in plan.groups])] == ["one-gpu"]


def test_allocations_agree_when_the_scheduler_took_the_planned_device(tmp_path: Path) -> None:
    plan = _plan(2, tmp_path)
    pods = [_pod("w-a", "dra-gpu-node-1"), _pod("w-b", None)]
    claims = [_claim("w-a", ["gpu.nvidia.com/dra-gpu-node-1/gpu-0"]), _claim("w-b", [])]
    assert real_allocations(claims) == {
        "w-a": [("gpu", ("gpu.nvidia.com/dra-gpu-node-1/gpu-0",))],
        "w-b": [("gpu", ())],
    }
    assert compare_allocations(plan, pods, claims) == []


def test_another_device_or_an_allocated_claim_of_a_pending_pod_is_a_mismatch(tmp_path: Path) -> None:
    plan = _plan(2, tmp_path)
    pods = [_pod("w-a", "dra-gpu-node-2"), _pod("w-b", None)]
    claims = [_claim("w-a", ["gpu.nvidia.com/dra-gpu-node-2/gpu-0-mig-9-0-4"]), _claim("w-b", [])]
    (bad,) = compare_allocations(plan, pods, claims)
    assert bad.field == "gpu-workers.dra_allocation"
    assert (("dra-gpu-node-1", "gpu", ("gpu.nvidia.com/dra-gpu-node-1/gpu-0",))) in bad.model
    assert ("dra-gpu-node-2", "gpu", ("gpu.nvidia.com/dra-gpu-node-2/gpu-0-mig-9-0-4",)) in bad.real


def test_a_live_dra_pod_holds_the_gpus_allocated_to_its_containers_claims() -> None:
    """The kwok backend's Ray node for overlays/dra's GPU pod: the allocated H100 is held (1 GPU, Ray's
    accelerator type from the device's productName); a claim the Ray container does not list gives it none."""
    from gpuconf.backends.kwok.backend import spec_for_pod
    from gpuconf.backends.kwok.dra import allocated_gpus
    from gpuconf.kube.objects import NodeInfo
    from tests.test_raynode import api_claims, kubernetes_pod

    plan = next(p for p in run_check([OVERLAY]).plans if p.target.name.startswith("RayCluster/"))
    pod = next(p for p in plan.pods if p.group.name == "gpu-workers")
    assert pod.node is not None
    model = plan.node(pod.node)
    node = NodeInfo(model.name, dict(model.labels), list(model.taints), dict(model.allocatable))
    info = kubernetes_pod(pod)
    claims = api_claims(pod)
    [gpu] = allocated_gpus(plan, [info], claims)[info.name]
    spec = spec_for_pod(info, node, plan, dra_gpus=[gpu])
    assert (spec.gpus_held, spec.planned_resources["GPU"]) == (1, 1.0)
    assert any(k.startswith("accelerator_type:") for k in spec.planned_resources), spec.planned_resources

    for claim in claims:  # the same allocation under a name the Ray container does not list
        claim["metadata"]["annotations"]["resource.kubernetes.io/pod-claim-name"] = "sidecar-gpu"
    assert allocated_gpus(plan, [info], claims)[info.name] == []
