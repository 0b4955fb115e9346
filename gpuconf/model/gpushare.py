"""Which physical GPU each pod's GPUs are, as the NVIDIA device plugin hands them out.

On a node whose GPUs are not shared, every GPU a pod holds is a device of its own. Under
time-slicing or MPS (GFD's `nvidia.com/gpu.sharing-strategy`, `.replicas`, `.count`) the plugin
advertises `replicas` devices per physical GPU, and its preferred allocation (k8s-device-plugin
internal/rm/allocate.go, the default `distributed` policy) takes each replica from the physical
GPU with the fewest replicas allocated so far, then the one this allocation took least from
(the lowest index where both tie). Two pods holding replicas of one GPU share it, whatever
Ray counts.

Physical GPUs are named `<k8s node>/gpu-<index>`: the live tiers without physical GPUs compare
these where a GPU host compares device UUIDs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gpuconf.model.accelerators import gpu_sharing


@dataclass(frozen=True)
class GpuHolder:
    """A pod that holds GPUs of a node, in the order the kubelet admits pods."""

    pod: str
    node: str
    gpus: int


def physical_gpus(
    holders: Sequence[GpuHolder], node_labels: Mapping[str, Mapping[str, str]], node_gpus: Mapping[str, int]
) -> dict[str, list[str]]:
    """Per pod: the physical GPU behind each GPU it holds (a name repeats where the pod holds two replicas of one)."""
    out: dict[str, list[str]] = {}
    taken: dict[str, list[int]] = {}  # per node: replicas allocated per physical GPU
    for holder in holders:
        if holder.gpus <= 0:
            continue
        sharing = gpu_sharing(node_labels.get(holder.node, {}))
        replicas = (sharing.replicas or 1) if sharing.shared else 1
        count = sharing.count or max(1, math.ceil(node_gpus.get(holder.node, holder.gpus) / replicas))
        load = taken.setdefault(holder.node, [0] * count)
        picked = [0] * len(load)
        names = []
        for _ in range(holder.gpus):
            free = [i for i in range(len(load)) if load[i] < replicas]
            if not free:  # more than the node has: the scheduler would not have bound the pod
                break
            i = min(free, key=lambda j: (load[j], picked[j], j))
            load[i] += 1
            picked[i] += 1
            names.append(f"{holder.node}/gpu-{i}")
        out[holder.pod] = names
    return out
