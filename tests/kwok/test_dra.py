"""DRA on the kwok control plane: the real kube-scheduler allocates claims against published ResourceSlices.

overlays/dra's pool publishes one whole H100 on dra-gpu-node-1 and only MIG slices on
dra-gpu-node-2 (which DeviceClass gpu.nvidia.com does not select). Both nodes carry the GPU
label and taint the GPU group asks for, so only the ResourceSlices tell them apart. Allocation
needs no driver: the scheduler's DynamicResources plugin writes it into the claim, which the
claim controller made from the overlay's ResourceClaimTemplate. Each test compares the real
result with the model's plan (gpuconf.model.dra) through the fidelity check.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpuconf.backends.kwok.backend import apply_target
from gpuconf.backends.kwok.dra import real_allocations, resource_claims
from gpuconf.backends.kwok.fidelity import compare_report
from gpuconf.kube.client import KubeClient
from gpuconf.kube.deploy import KubeDeployment
from gpuconf.model.plan import Plan
from gpuconf.provision.kwok.nodes import read_pools, replace_pool
from gpuconf.static.check import run_check

pytestmark = pytest.mark.local_control_plane

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "overlays" / "dra"
SHIPPED_POOL = ROOT / "manifests" / "nodes"
WHOLE_GPU = "gpu.nvidia.com/dra-gpu-node-1/gpu-0"


@pytest.fixture(scope="module")
def dra_pool(kube: KubeClient) -> Iterator[None]:
    """The overlay's Nodes, ResourceSlices and DeviceClasses in place of the shipped pool, for this module."""
    try:
        replace_pool(kube.api, read_pools([OVERLAY / "nodes"]))
        yield
    finally:
        replace_pool(kube.api, read_pools([SHIPPED_POOL]))


def _plan(folder: Path) -> Plan:
    return next(p for p in run_check([folder]).plans if p.target.name.startswith("RayCluster/"))


def _with_gpu_replicas(tmp_path: Path, replicas: int) -> Path:
    """A copy of the overlay whose GPU group asks for `replicas` pods (min = max = replicas)."""
    folder = tmp_path / "dra"
    shutil.copytree(OVERLAY, folder)
    manifest = folder / "raycluster.yaml"
    old = "    - groupName: gpu-workers\n      replicas: 1\n      minReplicas: 1\n      maxReplicas: 1\n"
    text = manifest.read_text()
    assert old in text, "overlays/dra/raycluster.yaml's gpu-workers group changed shape"
    new = f"    - groupName: gpu-workers\n      replicas: {replicas}\n      minReplicas: {replicas}\n"
    manifest.write_text(text.replace(old, new + f"      maxReplicas: {replicas}\n"))
    return folder


def _deploy(kube: KubeClient, plan: Plan, suffix: str) -> tuple[KubeDeployment, list[dict]]:
    dep = apply_target(kube, plan, "dra", suffix=suffix)
    try:
        return dep, resource_claims(kube, dep.namespace)
    except BaseException:
        dep.teardown(None, wait=True)
        raise


def test_gpu_pod_binds_only_where_a_slice_has_a_free_device(kube: KubeClient, dra_pool: None) -> None:
    """The GPU pod lands on the node whose slice has a device of its class, with that device allocated, as planned."""
    plan = _plan(OVERLAY)
    dep, claims = _deploy(kube, plan, "one")
    try:
        gpu_pods = [p for p in dep.pods if p.group == "gpu-workers"]
        assert [p.node for p in gpu_pods] == ["dra-gpu-node-1"], [
            (p.name, p.node, p.failed_scheduling) for p in gpu_pods
        ]
        allocated = real_allocations(claims)
        assert allocated[gpu_pods[0].name] == [("gpu", (WHOLE_GPU,))], allocated
        report = compare_report(plan, dep.pods, dep.nodes, dep.namespace, claims)
    finally:
        dep.teardown(None, wait=True)
    assert not report.mismatches, "\n".join(str(m) for m in report.mismatches)


def test_a_gpu_pod_beyond_the_devices_stays_pending(
    kube: KubeClient, dra_pool: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two GPU pods, one matching device: the second stays Pending with its claim unallocated, as planned.

    The same real result, compared with a model whose allocator ignores the DeviceClass's CEL
    selector (so it takes dra-gpu-node-2's MIG slices for whole GPUs), is a mismatch.
    """
    plan = _plan(_with_gpu_replicas(tmp_path, 2))
    dep, claims = _deploy(kube, plan, "two")
    try:
        gpu_pods = [p for p in dep.pods if p.group == "gpu-workers"]
        assert sorted(str(p.node) for p in gpu_pods) == ["None", "dra-gpu-node-1"], [(p.name, p.node) for p in gpu_pods]
        pending = next(p for p in gpu_pods if p.node is None)
        assert "cannot allocate all claims" in (pending.failed_scheduling or ""), pending.failed_scheduling
        assert real_allocations(claims)[pending.name] == [("gpu", ())]
        report = compare_report(plan, dep.pods, dep.nodes, dep.namespace, claims)
        import gpuconf.model.dra as dra

        monkeypatch.setattr(dra, "selectors_match", lambda selectors, device: True)
        careless = compare_report(
            _plan(_with_gpu_replicas(tmp_path / "careless", 2)), dep.pods, dep.nodes, None, claims
        )
    finally:
        dep.teardown(None, wait=True)
    assert not report.mismatches, "\n".join(str(m) for m in report.mismatches)
    fields = {m.field for m in careless.mismatches}
    assert {"gpu-workers.nodes", "gpu-workers.dra_allocation"} <= fields, careless.mismatches
