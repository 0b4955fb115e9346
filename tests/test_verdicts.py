"""Every live verdict on probes that are wrong in the way it guards against, and on one that is right.

The probes are shaped like entrypoints' (the replica's own report); each bad one changes one fact
of a good probe, so a verdict that stopped looking at that fact fails here.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gpuconf.live.cuda import CudaVerdict, cuda_verdict, without_cuda
from gpuconf.live.observe import PodRecord, ReplicaObservation
from gpuconf.live.verdicts import (
    accounting_problems,
    cuda_problems,
    has_physical_gpu,
    label_problem,
    placement_problem,
    sees_gpu,
    unprobed_zero_gpu_pods,
)

GPU_POD = PodRecord("n-gpu", "ml-gpu-worker-0", "gpu-node-1", "gpu-workers", False, True, 1.0, {"GPU": 1.0, "CPU": 4.0})
HEAD_POD = PodRecord("n-head", "ml-head", "cpu-node-1", "headgroup", True, False, 0.0, {"CPU": 2.0})
CPU_POD = PodRecord("n-cpu", "ml-cpu-worker-0", "cpu-node-2", "cpu-workers", False, False, 0.0, {"CPU": 4.0})
CPU_ON_GPU_NODE = PodRecord("n-cpu2", "ml-cpu-worker-1", "gpu-node-1", "cpu-workers", False, True, 0.0, {"GPU": 1.0})


def good_probe(**changes: Any) -> dict[str, Any]:
    """A GPU replica's probe that passes every verdict (one whole physical GPU)."""
    probe: dict[str, Any] = {
        "replica_id": "r1",
        "node_id": "n-gpu",
        "node_labels": {"ray.io/node-group": "gpu-workers"},
        "gpu_ids": ["0"],
        "cuda_visible_devices": "0",
        "torch": {"cuda_available": True, "device_count": 1},
        "devices": [{"index": 0, "name": "NVIDIA H200", "uuid": "GPU-1234-abcd", "capability": "9.0"}],
        "kernel": {"ran": True, "ok": True, "max_abs_err": 1e-6, "tolerance": 1e-3},
    }
    probe.update(changes)
    return probe


def obs(probe: dict[str, Any], pod: PodRecord | None = GPU_POD) -> ReplicaObservation:
    return ReplicaObservation("ml_service", "MLService", probe, pod)


def test_good_probe_passes_every_verdict() -> None:
    o = obs(good_probe())
    assert placement_problem(o) is None
    assert label_problem(o) is None
    assert accounting_problems(o, 1.0, physical=True) == []
    assert has_physical_gpu(o.probe)
    assert cuda_problems(o.probe) == []


@pytest.mark.parametrize(
    ("pod", "says"),
    [
        (None, "stands for no known pod"),
        (HEAD_POD, "runs on the head"),
        (CPU_POD, "which is not a GPU node"),
    ],
)
def test_placement_problem(pod: PodRecord | None, says: str) -> None:
    problem = placement_problem(obs(good_probe(), pod))
    assert problem is not None and says in problem


@pytest.mark.parametrize(
    ("probe", "pod", "says"),
    [
        (good_probe(node_labels={"ray.io/node-group": "cpu-workers"}), GPU_POD, "its pod's group is 'gpu-workers'"),
        (good_probe(node_labels={}), GPU_POD, "ray.io/node-group is None"),
        (good_probe(), None, "no pod record"),
    ],
)
def test_label_problem(probe: dict[str, Any], pod: PodRecord | None, says: str) -> None:
    problem = label_problem(obs(probe, pod))
    assert problem is not None and says in problem


_TWO_GPU_POD = PodRecord("n-gpu", "ml-gpu-worker-0", "gpu-node-1", "gpu-workers", False, True, 2.0, {"GPU": 1.0})


@pytest.mark.parametrize(
    ("probe", "pod", "expected", "physical", "says"),
    [
        (
            good_probe(),
            _TWO_GPU_POD,
            1.0,
            True,
            "holds 2 GPU(s) from Kubernetes (its GPU limit or DRA claims) but its Ray node advertises GPU 1",
        ),
        (
            good_probe(gpu_ids=["0", "1"], cuda_visible_devices="0,1"),
            GPU_POD,
            1.0,
            False,
            "holds 2 GPU id(s) on a node with GPU 1",
        ),
        (good_probe(gpu_ids=[], cuda_visible_devices=""), GPU_POD, 1.0, False, "expected 1 GPU(s)"),
        (
            good_probe(gpu_ids=["0", "1"], cuda_visible_devices="0,1"),
            GPU_POD,
            0.5,
            False,
            "fractional GPU replica should hold one",
        ),
        (
            good_probe(cuda_visible_devices="1"),
            GPU_POD,
            1.0,
            False,
            "CUDA_VISIBLE_DEVICES is '1' but ray.get_gpu_ids() is ['0']",
        ),
        (good_probe(cuda_visible_devices=None), GPU_POD, 1.0, False, "CUDA_VISIBLE_DEVICES is None"),
        (good_probe(torch={"cuda_available": True, "device_count": 2}), GPU_POD, 1.0, True, "torch sees 2 device(s)"),
        (good_probe(), None, 1.0, True, "no pod record"),
    ],
)
def test_accounting_problems(
    probe: dict[str, Any], pod: PodRecord | None, expected: float, physical: bool, says: str
) -> None:
    problems = accounting_problems(obs(probe, pod), expected, physical)
    assert any(says in p for p in problems), problems


def test_accounting_ignores_torch_without_a_physical_gpu() -> None:
    """On a host with logical GPUs only, torch sees nothing and that is not an accounting error."""
    probe = good_probe(torch={"cuda_available": False, "device_count": 0})
    assert accounting_problems(obs(probe), 1.0, physical=False) == []
    assert any("torch sees 0" in p for p in accounting_problems(obs(probe), 1.0, physical=True))


@pytest.mark.parametrize(
    "torch_info", [{"cuda_available": False, "device_count": 1}, {"cuda_available": True, "device_count": 0}, {}, None]
)
def test_has_physical_gpu_needs_cuda_and_a_device(torch_info: dict[str, Any] | None) -> None:
    assert not has_physical_gpu(good_probe(torch=torch_info))


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"devices": []}, "torch lists no CUDA device"),
        ({"devices": [{"index": 0, "name": "NVIDIA H200", "uuid": "MIG-1", "capability": "9.0"}]}, "has no UUID"),
        ({"devices": [{"index": 0, "name": "", "uuid": "GPU-1", "capability": "9.0"}]}, "has no name or capability"),
        (
            {"devices": [{"index": 0, "name": "NVIDIA H200", "uuid": "GPU-1", "capability": None}]},
            "has no name or capability",
        ),
        ({"kernel": {"ran": False, "reason": "no torch"}}, "the kernel check did not run: no torch"),
        (
            {"kernel": {"ran": True, "ok": False, "max_abs_err": 0.5, "tolerance": 1e-3}},
            "max abs error 0.5 > tolerance 0.001",
        ),
    ],
)
def test_cuda_problems(changes: dict[str, Any], says: str) -> None:
    problems = cuda_problems(good_probe(**changes))
    assert any(says in p for p in problems), problems


def _zero_gpu_probe(**changes: Any) -> dict[str, Any]:
    probe: dict[str, Any] = {
        "cuda_visible_devices": "",
        "torch": {"cuda_available": False, "device_count": 0},
        "devices": [],
    }
    probe.update(changes)
    return probe


@pytest.mark.parametrize(
    ("probe", "node", "says"),
    [
        (
            _zero_gpu_probe(torch={"device_count": 1}, devices=[{"name": "NVIDIA H200"}]),
            CPU_POD,
            "torch sees 1 CUDA device(s)",
        ),
        (_zero_gpu_probe(cuda_visible_devices=None), CPU_ON_GPU_NODE, "not blank, on a node with GPU 1"),
        (_zero_gpu_probe(cuda_visible_devices="0"), CPU_ON_GPU_NODE, "CUDA_VISIBLE_DEVICES is '0'"),
    ],
)
def test_sees_gpu(probe: dict[str, Any], node: PodRecord, says: str) -> None:
    why = sees_gpu(probe, node)
    assert why is not None and says in why


@pytest.mark.parametrize("node", [CPU_POD, HEAD_POD, CPU_ON_GPU_NODE, None])
def test_sees_gpu_none_when_blank(node: PodRecord | None) -> None:
    assert sees_gpu(_zero_gpu_probe(), node) is None


def test_sees_gpu_unset_env_on_a_node_without_gpus_is_fine() -> None:
    """No GPU on the node: an unset CUDA_VISIBLE_DEVICES reaches nothing."""
    assert sees_gpu(_zero_gpu_probe(cuda_visible_devices=None), CPU_POD) is None


# -- the one CUDA decision ---------------------------------------------------------------------


def test_cuda_verdict_runs_with_physical_gpus() -> None:
    assert cuda_verdict([obs(good_probe())], [], ["NVIDIA H200"], require_cuda=True) == CudaVerdict("run")


@pytest.mark.parametrize("require", [False, True])
def test_cuda_verdict_on_a_fake_gpu_node(require: bool) -> None:
    verdict = cuda_verdict([obs(good_probe())], ["gpu-node-1"], [], require_cuda=require)
    assert verdict.outcome == ("fail" if require else "skip")
    assert "fake GPU" in verdict.reason and "gpu-node-1" in verdict.reason


@pytest.mark.parametrize("require", [False, True])
def test_cuda_verdict_with_logical_gpus_only(require: bool) -> None:
    logical = good_probe(torch={"cuda_available": False, "device_count": 0})
    verdict = cuda_verdict([obs(good_probe()), obs(logical)], [], [], require_cuda=require)
    assert verdict.outcome == ("fail" if require else "skip")
    assert "no physical GPU" in verdict.reason and "host GPUs: none" in verdict.reason
    assert verdict.reason.startswith("--require-cuda: ") is require


def test_cuda_verdict_without_replicas_does_not_run() -> None:
    assert cuda_verdict([], [], ["NVIDIA H200"], require_cuda=False).outcome == "skip"


def test_without_cuda() -> None:
    assert without_cuda("why", False) == CudaVerdict("skip", "why")
    assert without_cuda("why", True) == CudaVerdict("fail", "--require-cuda: why")


def test_good_probe_is_not_shared() -> None:
    """The fixtures above build fresh probes: a verdict that mutates its input cannot leak into another case."""
    a = good_probe()
    b = copy.deepcopy(a)
    accounting_problems(obs(a), 1.0, physical=True)
    cuda_problems(a)
    assert a == b


def test_a_cpu_pod_that_never_joined_is_reported_not_passed() -> None:
    """Seen live under load: the CPU group's node missed its start window and the check passed on the
    head alone. A zero-GPU pod that never joined is a problem; a GPU pod that never joined is not this
    check's (the replica checks report it); a pod the plan does not know counts as zero-GPU."""
    failed = [
        {"pod": "c-cpu-workers-worker-0", "exit_code": 1},
        {"pod": "c-gpu-workers-worker-0", "exit_code": 1},
        {"pod": "c-unknown", "exit_code": None},
    ]
    got = unprobed_zero_gpu_pods(failed, {"c-cpu-workers-worker-0": 0.0, "c-gpu-workers-worker-0": 1.0})
    assert got == [
        "c-cpu-workers-worker-0: not probed, its Ray node never joined (ray start exit 1)",
        "c-unknown: not probed, its Ray node never joined (ray start exit None)",
    ]
