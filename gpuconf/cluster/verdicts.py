"""Verdicts only a real cluster can give: GPUs from the device plugin, and pods without one seeing none."""

from __future__ import annotations

import re
from typing import Any

from gpuconf.cluster.podexec import DeviceCheck

_UUID = re.compile(r"^GPU-[0-9a-fA-F-]+$")


def allocated_uuids(check: DeviceCheck) -> list[str]:
    """The GPUs the device plugin gave the pod: NVIDIA_VISIBLE_DEVICES when it lists UUIDs (the plugin's
    env strategy), else what `nvidia-smi -L` shows inside the container (only the allocated devices)."""
    nvd = [v.strip() for v in (check.nvidia_visible_devices or "").split(",") if v.strip()]
    if nvd and all(_UUID.match(v) for v in nvd):
        return nvd
    return list(check.smi_uuids)


def replica_gpu_problems(probe: dict[str, Any], check: DeviceCheck | str | None) -> list[str]:
    """Why the GPUs a replica uses are not the ones allocated to its pod (empty: they are)."""
    if check is None:
        return ["no device check ran in the replica's pod"]
    if isinstance(check, str):
        return [f"the device check in the replica's pod failed: {check}"]
    allocated = allocated_uuids(check)
    if check.nvidia_visible_devices == "all":
        return ["the pod's NVIDIA_VISIBLE_DEVICES is `all`: it sees every GPU of the node, not what the "
                "device plugin allocated (KubeRay issue 2098)"]
    if not allocated:
        return [f"the pod shows no allocated GPU (NVIDIA_VISIBLE_DEVICES={check.nvidia_visible_devices!r}, "
                f"nvidia-smi: {check.smi_lines or 'nothing'})"]
    seen = [d.get("uuid") for d in probe.get("devices") or []]
    stray = [u for u in seen if u not in allocated]
    if not seen:
        return ["the replica sees no CUDA device"]
    if stray:
        return [f"the replica uses {stray}, which the device plugin did not allocate to its pod ({allocated})"]
    return []


def pod_device_problems(check: DeviceCheck | str | None) -> list[str]:
    """Why a pod that was given no GPU can reach one (empty: it cannot)."""
    if check is None:
        return ["no device check ran in the pod"]
    if isinstance(check, str):
        return [f"the device check could not run: {check}"]
    return check.problems()
