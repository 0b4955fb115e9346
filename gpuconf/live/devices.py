"""The GPU-device check run in a pod, and what its output says.

The check is plain POSIX sh, so it runs in any Ray image: it prints the NVIDIA/CUDA env, the
/dev/nvidia<N> device files and `nvidia-smi -L`. A head or CPU pod that shows a device file or
a GPU line can reach a GPU it never asked for, e.g. because its image sets
NVIDIA_VISIBLE_DEVICES=all on a GPU node (KubeRay issue 2098).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DEVICE_CHECK = (
    'echo "NVIDIA_VISIBLE_DEVICES=${NVIDIA_VISIBLE_DEVICES-<unset>}"; '
    'echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-<unset>}"; '
    'for d in /dev/nvidia[0-9]*; do [ -e "$d" ] && echo "DEVICE=$d"; done; '
    'if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L 2>&1 | sed "s/^/SMI=/"; '
    'else echo "SMI=<no nvidia-smi>"; fi'
)
_UUID = re.compile(r"\(UUID: (GPU-[0-9a-fA-F-]+)\)")
_GPU_LINE = re.compile(r"^GPU \d+: (?P<name>.*?) \(UUID: (?P<uuid>GPU-[0-9a-fA-F-]+)\)")


@dataclass
class DeviceCheck:
    """What one pod's container shows of GPUs, parsed from DEVICE_CHECK's output."""

    nvidia_visible_devices: str | None
    cuda_visible_devices: str | None
    device_files: list[str] = field(default_factory=list)
    smi_lines: list[str] = field(default_factory=list)
    has_smi: bool = True

    @property
    def smi_uuids(self) -> list[str]:
        """Every GPU UUID `nvidia-smi -L` printed."""
        return [u for line in self.smi_lines for u in _UUID.findall(line)]

    @property
    def smi_gpus(self) -> list[dict[str, str]]:
        """The `GPU <n>: <name> (UUID: <uuid>)` lines as {"name", "uuid"} (MIG and error lines skipped)."""
        return [m.groupdict() for line in self.smi_lines if (m := _GPU_LINE.match(line))]

    def problems(self) -> list[str]:
        """Why a pod that was given no GPU can reach one (empty: it cannot)."""
        out = []
        if self.device_files:
            out.append(f"GPU device files present: {self.device_files}")
        if self.smi_uuids:
            out.append(f"nvidia-smi lists {len(self.smi_uuids)} GPU(s): {self.smi_uuids}")
        if self.nvidia_visible_devices in ("all",) and (self.device_files or self.smi_uuids):
            out.append(
                "NVIDIA_VISIBLE_DEVICES=all in the container (KubeRay issue 2098): "
                "set NVIDIA_VISIBLE_DEVICES=void in the head and CPU groups' env"
            )
        return out

    def as_evidence(self) -> dict[str, Any]:
        """The facts a verdict cites."""
        return {
            "NVIDIA_VISIBLE_DEVICES": self.nvidia_visible_devices,
            "CUDA_VISIBLE_DEVICES": self.cuda_visible_devices,
            "device_files": self.device_files,
            "nvidia_smi": self.smi_lines if self.has_smi else "not installed",
            "uuids": self.smi_uuids,
        }


def parse_device_check(stdout: str) -> DeviceCheck:
    """Parse DEVICE_CHECK's output (unknown lines are ignored)."""
    values: dict[str, str | None] = {"NVIDIA_VISIBLE_DEVICES": None, "CUDA_VISIBLE_DEVICES": None}
    check = DeviceCheck(None, None)
    for line in stdout.splitlines():
        key, _, value = line.partition("=")
        if key in values:
            values[key] = None if value == "<unset>" else value
        elif key == "DEVICE" and value:
            check.device_files.append(value)
        elif key == "SMI":
            if value == "<no nvidia-smi>":
                check.has_smi = False
            elif value.strip():
                check.smi_lines.append(value.strip())
    check.nvidia_visible_devices = values["NVIDIA_VISIBLE_DEVICES"]
    check.cuda_visible_devices = values["CUDA_VISIBLE_DEVICES"]
    return check
