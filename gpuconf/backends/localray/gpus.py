"""The host's physical NVIDIA GPUs, and how they are shared out among GPU pods."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class HostGpu:
    """One physical GPU as nvidia-smi lists it."""

    index: int
    uuid: str
    name: str


def host_gpus() -> list[HostGpu]:
    """GPUs nvidia-smi lists (empty when there is no driver or no GPU)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index,uuid,name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[0].isdigit():
            gpus.append(HostGpu(int(parts[0]), parts[1], parts[2]))
    return gpus


def partition(gpus: list[HostGpu], wants: list[int]) -> list[list[HostGpu]]:
    """Give each GPU pod its own devices, in order; a pod that finds none left gets [] (and stays logical)."""
    out: list[list[HostGpu]] = []
    cursor = 0
    for n in wants:
        take = gpus[cursor : cursor + n] if cursor + n <= len(gpus) else []
        cursor += len(take)
        out.append(take)
    return out
