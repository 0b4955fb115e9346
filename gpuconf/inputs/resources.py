"""Which Kubernetes resource names are GPUs: KubeRay's own predicate, shared by the inputs and the model."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

# KubeRay (ray-operator/controllers/ray/utils/resources.go, IsGPUResourceKey, v1.5.0) counts a
# limit as GPUs when its name ends in "gpu" (nvidia.com/gpu, amd.com/gpu) or it matches an NVIDIA
# MIG slice such as nvidia.com/mig-1g.10gb. Go's regexp.MatchString is unanchored at the start,
# hence `search`.
_MIG = re.compile(r"nvidia\.com/mig-\d+g\.\d+gb$")

# Intel's GPU device plugin (intel/intel-device-plugins-for-kubernetes, cmd/gpu_plugin) advertises
# whole devices as gpu.intel.com/i915 and gpu.intel.com/xe. Their names do not end in "gpu", so
# KubeRay derives no --num-gpus from them, but a node advertising them is a GPU node.
# (gpu.intel.com/millicores and memory.max are shares of a device, not devices.)
INTEL_GPU_DEVICES = frozenset({"gpu.intel.com/i915", "gpu.intel.com/xe"})

# The NVIDIA device plugin renames a time-sliced or MPS-shared resource to `<name>.shared` when
# its sharing config sets renameByDefault (k8s-device-plugin api/config/v1/resources.go,
# DefaultSharedRename). The name no longer ends in "gpu", so KubeRay adds no --num-gpus, but
# the shares are still GPUs, and Ray autodetects the devices the container sees.
_SHARED = re.compile(r"^nvidia\.com/(gpu|mig-\d+g\.\d+gb)\.shared$")

GpuPredicate = Callable[[str], bool]


def is_gpu_resource(name: str) -> bool:
    """KubeRay's test for a GPU limit name (the limits it turns into --num-gpus)."""
    return name.endswith("gpu") or bool(_MIG.search(name))


def is_gpu_device_resource(name: str) -> bool:
    """Whether a node's allocatable resource of this name is GPU devices: KubeRay's predicate, Intel's, or a renamed share."""
    return is_gpu_resource(name) or name in INTEL_GPU_DEVICES or bool(_SHARED.match(name))


def is_shared_gpu_resource(name: str) -> bool:
    """A renamed time-sliced or MPS share (`nvidia.com/gpu.shared`, `nvidia.com/mig-1g.10gb.shared`)."""
    return bool(_SHARED.match(name))


def is_nvidia_gpu(name: str) -> bool:
    """NVIDIA GPU devices (whole, MIG slices, renamed shares): the ones NVIDIA_VISIBLE_DEVICES exposes."""
    return name.startswith("nvidia.com/") and is_gpu_device_resource(name)


def gpu_amount(mapping: Mapping[Any, Any], predicate: GpuPredicate = is_gpu_device_resource) -> Decimal:
    """The GPUs a resource mapping (limits, allocatable) holds: the sum over the names the predicate accepts.

    Values that are not quantities count as 0 (the loader has rejected them where they matter).
    """
    from gpuconf.inputs.quantity import parse_quantity

    total = Decimal(0)
    for key, value in mapping.items():
        if predicate(str(key)):
            try:
                total += value if isinstance(value, Decimal) else parse_quantity(value)
            except (ValueError, TypeError, ArithmeticError):
                continue
    return total
