"""The real-cluster verdicts on crafted device checks and probes: each fails on the fault it guards against."""

from __future__ import annotations

from gpuconf.live.devices import parse_device_check
from gpuconf.live.verdicts import allocated_uuids, pod_device_problems, replica_gpu_problems

H100_A = "GPU-159fc32e-0fbb-6a05-029a-a730ec3a1854"
H100_B = "GPU-00000000-1111-2222-3333-444444444444"


def _check(nvd: str | None, smi: list[str] = (), devices: list[str] = ()) -> object:
    lines = [f"NVIDIA_VISIBLE_DEVICES={nvd if nvd is not None else '<unset>'}", "CUDA_VISIBLE_DEVICES=<unset>"]
    lines += [f"DEVICE={d}" for d in devices]
    lines += [f"SMI=GPU {i}: NVIDIA H100 80GB HBM3 (UUID: {u})" for i, u in enumerate(smi)] or ["SMI=<no nvidia-smi>"]
    return parse_device_check("\n".join(lines) + "\n")


def _probe(*uuids: str) -> dict:
    return {"devices": [{"index": i, "uuid": u} for i, u in enumerate(uuids)]}


def test_allocated_uuids_prefer_the_device_plugin_env() -> None:
    """UUIDs in NVIDIA_VISIBLE_DEVICES (the plugin's env strategy) win; otherwise nvidia-smi's list counts."""
    assert allocated_uuids(_check(H100_A, smi=[H100_A, H100_B])) == [H100_A]
    assert allocated_uuids(_check("/var/run/nvidia-container-devices", smi=[H100_B])) == [H100_B]


def test_replica_on_its_allocated_gpu_passes() -> None:
    """The replica's torch UUID is the pod's allocated one: no problem."""
    assert replica_gpu_problems(_probe(H100_A), _check(H100_A, smi=[H100_A], devices=["/dev/nvidia0"])) == []


def test_replica_on_a_gpu_not_allocated_to_its_pod_fails() -> None:
    """A replica that reaches another GPU than its pod's allocation is reported with both UUID lists."""
    problems = replica_gpu_problems(_probe(H100_B), _check(H100_A, smi=[H100_A]))
    assert problems and H100_B in problems[0] and H100_A in problems[0]


def test_nvidia_visible_devices_all_in_a_gpu_pod_fails() -> None:
    """NVIDIA_VISIBLE_DEVICES=all means the pod sees the whole node, whatever was allocated."""
    problems = replica_gpu_problems(_probe(H100_A), _check("all", smi=[H100_A, H100_B]))
    assert problems and "2098" in problems[0]


def test_failed_or_missing_device_check_fails() -> None:
    """No evidence is not a pass: a failed exec and a missing check are both problems."""
    assert replica_gpu_problems(_probe(H100_A), "ApiException: 403")
    assert replica_gpu_problems(_probe(H100_A), None)
    assert pod_device_problems("ApiException: 403") and pod_device_problems(None)


def test_head_pod_with_the_image_leak_fails_and_a_clean_one_passes() -> None:
    """A head pod on a GPU node whose image sets NVIDIA_VISIBLE_DEVICES=all shows the devices: it fails."""
    leaky = _check("all", smi=[H100_A], devices=["/dev/nvidia0"])
    problems = pod_device_problems(leaky)
    assert any("/dev/nvidia0" in p for p in problems) and any("2098" in p for p in problems)
    assert pod_device_problems(_check("void")) == []


def test_smi_gpus_pair_each_gpu_with_its_own_uuid() -> None:
    """MIG and error lines between GPU lines do not shift names against UUIDs (the host GPU list of the report)."""
    check = parse_device_check(
        "\n".join(
            [
                "NVIDIA_VISIBLE_DEVICES=all",
                "CUDA_VISIBLE_DEVICES=<unset>",
                f"SMI=GPU 0: NVIDIA A100-SXM4-40GB (UUID: {H100_B})",
                "SMI=  MIG 1g.5gb     Device  0: (UUID: MIG-11111111-2222-3333-4444-555555555555)",
                f"SMI=GPU 1: NVIDIA H100 80GB HBM3 (UUID: {H100_A})",
            ]
        )
        + "\n"
    )
    assert check.smi_gpus == [
        {"name": "NVIDIA A100-SXM4-40GB", "uuid": H100_B},
        {"name": "NVIDIA H100 80GB HBM3", "uuid": H100_A},
    ]
    assert check.smi_uuids == [H100_B, H100_A]
