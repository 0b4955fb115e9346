"""Which physical GPU each pod's GPUs are (gpuconf.model.gpushare), and what the distinct-device check reads."""

from __future__ import annotations

from pathlib import Path

from gpuconf.backends.localray.specs import specs_from_plan
from gpuconf.live.observe import PodRecord, ReplicaObservation
from gpuconf.live.verdicts import held_devices
from gpuconf.model.gpushare import GpuHolder, physical_gpus
from gpuconf.static.check import run_check

REPO = Path(__file__).resolve().parents[1]
TIME_SLICED = {
    "nvidia.com/gpu.sharing-strategy": "time-slicing",
    "nvidia.com/gpu.replicas": "4",
    "nvidia.com/gpu.count": "1",
}


def test_time_slices_of_one_gpu_are_one_device() -> None:
    """Two pods with one replica each of a node's single time-sliced GPU hold the same physical GPU."""
    held = physical_gpus([GpuHolder("a", "n", 1), GpuHolder("b", "n", 1)], {"n": TIME_SLICED}, {"n": 4})
    assert held == {"a": ["n/gpu-0"], "b": ["n/gpu-0"]}


def test_unshared_gpus_are_a_device_each() -> None:
    """Without sharing every GPU a pod holds is its own device, across pods of a node."""
    held = physical_gpus([GpuHolder("a", "m", 2), GpuHolder("b", "m", 1), GpuHolder("c", "m", 0)], {"m": {}}, {"m": 4})
    assert held == {"a": ["m/gpu-0", "m/gpu-1"], "b": ["m/gpu-2"]}


def test_the_distributed_policy_spreads_replicas_over_gpus() -> None:
    """Two GPUs of 2 replicas each: one pod's two replicas span both GPUs; the next pods share them."""
    labels = {**TIME_SLICED, "nvidia.com/gpu.replicas": "2", "nvidia.com/gpu.count": "2"}
    held = physical_gpus(
        [GpuHolder("a", "k", 2), GpuHolder("b", "k", 1), GpuHolder("c", "k", 1)], {"k": labels}, {"k": 4}
    )
    assert held == {"a": ["k/gpu-0", "k/gpu-1"], "b": ["k/gpu-0"], "c": ["k/gpu-1"]}


def test_two_replicas_of_one_gpu_in_one_pod_name_it_twice() -> None:
    """A pod asking 2 time-slices of a one-GPU node gets the same GPU twice (the plugin hands it once)."""
    assert physical_gpus([GpuHolder("a", "n", 2)], {"n": TIME_SLICED}, {"n": 4}) == {"a": ["n/gpu-0", "n/gpu-0"]}


def _specs(path: Path) -> dict[str, tuple[str, ...]]:
    plan = next(p for p in run_check([path]).plans if p.target.name.startswith("RayCluster/"))
    return {s.pod: s.physical_gpus for s in specs_from_plan(plan) if s.gpus_held}


def test_the_embedded_specs_carry_the_shared_gpu() -> None:
    """The regression case's two GPU pods on gpu-shared-1 both stand on its one GPU; the reference's do not share."""
    shared = _specs(REPO / "manifests" / "regressions" / "two-replicas-share-one-time-sliced-gpu.yaml")
    assert sorted(shared.values()) == [("gpu-shared-1/gpu-0",), ("gpu-shared-1/gpu-0",)]
    reference = [g for gpus in _specs(REPO / "manifests").values() for g in gpus]
    assert reference and len(reference) == len(set(reference))


def _observation(gpu_ids: list[int], physical: tuple[str, ...], node_id: str = "n1") -> ReplicaObservation:
    record = PodRecord(node_id, "pod", "gpu-node", "gpu-workers", False, True, 1.0, physical_gpus=physical)
    return ReplicaObservation("app", "Dep", {"node_id": node_id, "gpu_ids": gpu_ids}, record)


def test_held_devices_read_the_modelled_gpu_then_node_and_id() -> None:
    """Without a CUDA device: the modelled physical GPU by Ray's GPU id; without one, `<node>:<id>`."""
    assert held_devices(_observation([0], ("gpu-shared-1/gpu-0",))) == ["gpu-shared-1/gpu-0"]
    assert held_devices(_observation([1], ("n/gpu-0", "n/gpu-1"))) == ["n/gpu-1"]
    assert held_devices(_observation([0], ())) == ["n1:0"]
