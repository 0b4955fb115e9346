"""The roads by which accelerators reach a Ray node, as KubeRay, the device plugins, GFD and Ray take them.

One place answers, for a Kubernetes resource name or a node's labels:

- which vendor's device it is, and which Ray resource it becomes (`GPU`, `HPU`, `TPU`,
  `neuron_cores`);
- whether KubeRay turns the limit into `--num-gpus` (utils.IsGPUResourceKey: names ending in
  `gpu`, and `nvidia.com/mig-<n>g.<m>gb`) or into a custom resource in `--resources`
  (common/pod.go, customAcceleratorToRayResourceMap: google.com/tpu -> TPU,
  aws.amazon.com/neuroncore -> neuron_cores), both at KubeRay v1.5.0;
- the GPU model Ray would detect, from GPU Feature Discovery's `nvidia.com/gpu.product`
  (internal/lm/resource.go: the NVML name with spaces made hyphens, `-MIG-<profile>` for MIG,
  `-SHARED` for a shared resource that is not renamed), turned into Ray's accelerator type the
  way ray/_private/accelerators/nvidia_gpu.py `_gpu_name_to_accelerator_type` does (Ray 2.60);
- how the node's GPUs are shared (GFD's `nvidia.com/gpu.sharing-strategy`, `.replicas`,
  `.count`, `.memory`, `nvidia.com/mig.strategy`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gpuconf.inputs.resources import INTEL_GPU_DEVICES, is_gpu_resource, is_shared_gpu_resource

# The label Ray sets on a node from the accelerator it detects (ray._raylet.RAY_NODE_ACCELERATOR_TYPE_KEY).
RAY_ACCELERATOR_LABEL = "ray.io/accelerator-type"
# Ray's resource prefix for the accelerator type (ray_constants.RESOURCE_CONSTRAINT_PREFIX).
ACCELERATOR_RESOURCE_PREFIX = "accelerator_type:"

# GFD's labels (k8s-device-plugin internal/lm): always keyed by the full GPU resource name,
# renamed or not.
GFD_PRODUCT = "nvidia.com/gpu.product"
GFD_COUNT = "nvidia.com/gpu.count"
GFD_REPLICAS = "nvidia.com/gpu.replicas"
GFD_SHARING = "nvidia.com/gpu.sharing-strategy"
GFD_MEMORY = "nvidia.com/gpu.memory"
GFD_MIG_STRATEGY = "nvidia.com/mig.strategy"
# AMD's node labeller (ROCm/k8s-device-plugin, cmd/k8s-node-labeller): the PCI device id, which
# Ray maps to its type (ray/_private/accelerators/amd_gpu.py, amd_product_dict).
AMD_DEVICE_ID = "amd.com/gpu.device-id"

_MIG = re.compile(r"^nvidia\.com/mig-\d+g\.\d+gb$")
# Ray's NVIDIA_GPU_NAME_PATTERN (nvidia_gpu.py): the leading all-caps tokens up to the first
# token with a digit, after one brand word ("NVIDIA", "Tesla").
_RAY_NVIDIA_NAME = re.compile(r"\w+\s+((?:[A-Z]+\s+)*[A-Z0-9]*\d[A-Z0-9]*)")


@dataclass(frozen=True)
class AcceleratorKind:
    """What one Kubernetes resource name is, to KubeRay and to Ray."""

    resource: str
    vendor: str
    what: str
    # The Ray resource the device becomes on the node: GPU, HPU, TPU or neuron_cores.
    ray_resource: str
    # KubeRay writes --num-gpus from the limit (IsGPUResourceKey).
    kuberay_num_gpus: bool
    # KubeRay adds this custom resource to --resources from the limit (TPU, neuron_cores).
    kuberay_custom: str | None = None

    @property
    def is_gpu(self) -> bool:
        """A device Ray counts as `GPU`."""
        return self.ray_resource == "GPU"


def accelerator_kind(name: str) -> AcceleratorKind | None:
    """The accelerator a resource name stands for, or None for anything else."""
    if name == "nvidia.com/gpu":
        return AcceleratorKind(name, "NVIDIA", "an NVIDIA GPU", "GPU", True)
    if _MIG.match(name):
        return AcceleratorKind(name, "NVIDIA", f"an NVIDIA MIG slice ({name[len('nvidia.com/mig-') :]})", "GPU", True)
    if is_shared_gpu_resource(name):
        return AcceleratorKind(name, "NVIDIA", "a shared (renamed) NVIDIA GPU", "GPU", False)
    if name == "amd.com/gpu":
        return AcceleratorKind(name, "AMD", "an AMD GPU", "GPU", True)
    if name in INTEL_GPU_DEVICES:
        # Ray counts Intel GPUs only through dpctl (intel_gpu.py); KubeRay derives nothing.
        return AcceleratorKind(name, "Intel", "an Intel GPU", "GPU", False)
    if name == "habana.ai/gaudi":
        # Ray exposes Gaudi as HPU (hpu.py), never GPU; KubeRay derives nothing from it.
        return AcceleratorKind(name, "Intel Habana", "an Intel Gaudi (Ray's HPU, not a GPU)", "HPU", False)
    if name == "google.com/tpu":
        return AcceleratorKind(name, "Google", "a Google TPU chip (Ray's TPU)", "TPU", False, "TPU")
    if name == "aws.amazon.com/neuroncore":
        return AcceleratorKind(
            name, "AWS", "an AWS Neuron core (Ray's neuron_cores)", "neuron_cores", False, "neuron_cores"
        )
    if is_gpu_resource(name):
        return AcceleratorKind(name, name.split("/")[0], f"a GPU ({name})", "GPU", True)
    return None


def accelerators_in(mapping: Mapping[str, object]) -> dict[str, float]:
    """The accelerator resources of a mapping (limits, allocatable) with a non-zero amount, by name."""
    from decimal import Decimal

    from gpuconf.inputs.quantity import parse_quantity

    out: dict[str, float] = {}
    for key, value in mapping.items():
        if accelerator_kind(str(key)) is None:
            continue
        try:
            amount = value if isinstance(value, Decimal) else parse_quantity(value)
        except (ValueError, TypeError, ArithmeticError):
            continue
        if amount > 0:
            out[str(key)] = float(amount)
    return out


def describe(mapping: Mapping[str, object]) -> str:
    """`nvidia.com/mig-1g.10gb: 7 (an NVIDIA MIG slice (1g.10gb))`, for messages."""
    parts = []
    for name, amount in sorted(accelerators_in(mapping).items()):
        kind = accelerator_kind(name)
        parts.append(f"{name}: {amount:g} ({kind.what if kind else name})")
    return ", ".join(parts)


def ray_type_from_nvml_name(name: str) -> str | None:
    """Ray's accelerator type for an NVML device name (nvidia_gpu.py `_gpu_name_to_accelerator_type`)."""
    match = _RAY_NVIDIA_NAME.match(name)
    found = match.group(1).replace(" ", "-") if match else None
    if found and len(found) > 1:
        return found
    cleaned = re.sub(r"^NVIDIA\s+", "", name).strip()
    return cleaned.replace(" ", "-") if cleaned else None


def ray_type_from_gfd_product(product: str) -> str | None:
    """Ray's accelerator type from GFD's product label, e.g. `NVIDIA-L4` -> `L4`, `NVIDIA-A100-SXM4-80GB-MIG-1g.10gb` -> `A100`.

    GFD writes the NVML name with spaces as hyphens, then `-MIG-<profile>` (MIG) and
    `-SHARED` (shared, not renamed). Ray reads the NVML name of device 0, which in a MIG
    container is the parent GPU's. Hyphens inside the NVML name end Ray's match as spaces do,
    so turning every hyphen back into a space gives the same type.
    """
    text = re.sub(r"-SHARED$", "", product.strip())
    text = re.sub(r"-MIG-\d+g\.\d+gb$", "", text)
    return ray_type_from_nvml_name(text.replace("-", " ")) if text else None


def ray_type_from_amd_device_id(device_id: str) -> str | None:
    """Ray's accelerator type for an AMD PCI device id, from Ray's own table (amd_gpu.py)."""
    try:
        from ray._private.accelerators.amd_gpu import amd_product_dict
    except ImportError:  # pragma: no cover - Ray is a dependency
        return None
    key = device_id.lower() if device_id.lower().startswith("0x") else "0x" + device_id.lower()
    table = {k.lower(): v for k, v in amd_product_dict.items()}
    return table.get(key)


@dataclass(frozen=True)
class GpuSharing:
    """How a node's NVIDIA GPUs are shared, from GFD's labels (all None when GFD does not run there)."""

    strategy: str | None  # none | time-slicing | mps
    replicas: int | None
    count: int | None
    product: str | None
    memory_mib: int | None
    mig_strategy: str | None

    @property
    def shared(self) -> bool:
        """Each GPU is handed out as several replicas (time-slicing or MPS)."""
        return self.strategy in ("time-slicing", "mps") and (self.replicas or 0) > 1


def _int(labels: Mapping[str, str], key: str) -> int | None:
    try:
        return int(labels[key])
    except (KeyError, ValueError):
        return None


def gpu_sharing(labels: Mapping[str, str]) -> GpuSharing:
    """GFD's view of a node's GPUs."""
    return GpuSharing(
        labels.get(GFD_SHARING),
        _int(labels, GFD_REPLICAS),
        _int(labels, GFD_COUNT),
        labels.get(GFD_PRODUCT),
        _int(labels, GFD_MEMORY),
        labels.get(GFD_MIG_STRATEGY),
    )


def is_shared_resource(name: str, labels: Mapping[str, str]) -> bool:
    """Whether a pod's device of this name on a node with these labels is a time-slice or MPS share.

    A renamed `.shared` resource always is; plain `nvidia.com/gpu` is when GFD says the node
    shares its GPUs and did not rename them (the product label then ends in `-SHARED`).
    """
    if is_shared_gpu_resource(name):
        return True
    if name != "nvidia.com/gpu":
        return False
    sharing = gpu_sharing(labels)
    return sharing.shared and (sharing.product or "").endswith("-SHARED")


def node_accelerator_type(labels: Mapping[str, str], resource: str) -> str | None:
    """The type Ray would detect on a node for a pod holding `resource`, when the pool shows it.

    NVIDIA: GFD's product label (of the MIG profile under the mixed strategy); AMD: the
    labeller's device id. None when the node's labels do not say (the model is unknown).
    """
    kind = accelerator_kind(resource)
    if kind is None:
        return None
    if kind.vendor == "NVIDIA":
        mig = resource[len("nvidia.com/") :].removesuffix(".shared")
        product = labels.get(f"nvidia.com/{mig}.product") if mig.startswith("mig-") else None
        product = product or labels.get(GFD_PRODUCT)
        return ray_type_from_gfd_product(product) if product else None
    if kind.vendor == "AMD" and labels.get(AMD_DEVICE_ID):
        return ray_type_from_amd_device_id(labels[AMD_DEVICE_ID])
    return None
