"""Is the GPU a replica uses the one the device plugin allocated to its pod? (no CUDA needed)

The record of the allocation is the kubelet's: the device IDs its device manager gave the pod's
containers (pod-resources API), and what the plugin answered for each ID (the env and the device
node). The replica's own view is what it reports from inside: ``NVIDIA_VISIBLE_DEVICES`` (what
the container runtime was told to expose), the ``/dev/nvidia<N>`` nodes it can open, and the
GPU ids Ray gave it with ``CUDA_VISIBLE_DEVICES``. Those ids index the GPUs the container can
see, in device-node order (as CUDA enumerates a container's devices), so each id resolves to
one device node and so to one device ID. Every one of them must be among the allocated.

This is the fake-GPU half of the check; on real GPUs the suite compares torch's device UUIDs
with ``nvidia-smi`` in the pod instead (``verdicts.replica_gpu_problems``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_DEVICE_NUMBER = re.compile(r"^/dev/nvidia(\d+)$")


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def visible_devices(device_files: Sequence[str]) -> list[str]:
    """The container's GPU device nodes in enumeration order (by their number)."""
    numbered = [(int(m.group(1)), f) for f in device_files if (m := _DEVICE_NUMBER.match(f))]
    return [f for _, f in sorted(numbered)]


def resolve_gpu_ids(cuda_visible_devices: str | None, device_files: Sequence[str]) -> dict[str, str | None]:
    """Each index in CUDA_VISIBLE_DEVICES -> the device node it opens (None: there is no such GPU)."""
    visible = visible_devices(device_files)
    out: dict[str, str | None] = {}
    for item in _split(cuda_visible_devices):
        out[item] = visible[int(item)] if item.isdigit() and int(item) < len(visible) else None
    return out


def replica_allocation_problems(
    probe: Mapping[str, Any], allocated: Sequence[str], device_paths: Mapping[str, str]
) -> tuple[list[str], dict[str, Any]]:
    """Why the replica's GPUs are not those allocated to its pod (empty: they are), and the facts.

    ``allocated``: the device IDs the kubelet gave the pod; ``device_paths``: device ID -> the
    container path the plugin answered for it.
    """
    env = probe.get("env") or {}
    files = sorted(probe.get("device_files") or [])
    cvd = probe.get("cuda_visible_devices")
    by_path = {path: dev for dev, path in device_paths.items()}
    expected_files = sorted(device_paths[d] for d in allocated if d in device_paths)
    resolved = resolve_gpu_ids(cvd, files)
    uses = {i: (by_path.get(p) if p else None) for i, p in resolved.items()}
    facts: dict[str, Any] = {
        "allocated_device_ids": list(allocated),
        "allocated_device_nodes": expected_files,
        "replica_NVIDIA_VISIBLE_DEVICES": env.get("NVIDIA_VISIBLE_DEVICES"),
        "replica_device_nodes": files,
        "replica_CUDA_VISIBLE_DEVICES": cvd,
        "replica_ray_gpu_ids": probe.get("gpu_ids"),
        "replica_uses": uses,
    }
    if "device_files" not in probe:
        return ["the replica's probe does not report its device nodes (entrypoints/probe.py too old)"], facts
    if not allocated:
        return ["the kubelet allocated no GPU to the replica's pod"], facts
    problems = []
    missing = [d for d in allocated if d not in device_paths]
    if missing:
        problems.append(f"the device plugin has no record of allocating {missing}")
    nvd = _split(env.get("NVIDIA_VISIBLE_DEVICES"))
    if sorted(nvd) != sorted(allocated):
        problems.append(
            f"the replica's NVIDIA_VISIBLE_DEVICES is {env.get('NVIDIA_VISIBLE_DEVICES')!r}, "
            f"not the {list(allocated)} the device plugin allocated to its pod"
        )
    extra = [f for f in files if f not in expected_files]
    absent = [f for f in expected_files if f not in files]
    if extra:
        problems.append(f"the replica can open {extra}, which were not allocated to its pod ({expected_files})")
    if absent:
        problems.append(f"the replica cannot see {absent}, allocated to its pod")
    if not probe.get("gpu_ids"):
        problems.append(f"Ray gave the replica no GPU (gpu_ids={probe.get('gpu_ids')!r})")
    for index, dev in uses.items():
        path = resolved[index]
        if path is None:
            problems.append(f"CUDA_VISIBLE_DEVICES={cvd!r}: GPU {index} is none of the replica's devices {files}")
        elif dev not in allocated:
            problems.append(
                f"CUDA_VISIBLE_DEVICES={cvd!r}: GPU {index} is {path} ({dev or 'a device not allocated to it'}), "
                f"not one the device plugin allocated to its pod ({expected_files}, {list(allocated)})"
            )
    return problems, facts
