"""A pod's Ray node: the resources and labels Ray gives the node its `ray start` command starts.

One function, used by the plan (from the modelled pod) and by the kwok backend (from the real
pod the API server holds), so both tiers judge a manifest by the same rules. The precedence,
as KubeRay v1.5.0 builds the command (ray-operator common/pod.go, generateRayStartCommand and
addWellKnownAcceleratorResources) and Ray 2.60 resolves the node (ray/_private/
resource_and_label_spec.py, ResourceAndLabelSpec.resolve):

1. what the command says: --num-cpus, --num-gpus, --memory, --resources, --labels (KubeRay
   writes --num-cpus/--memory/--num-gpus from the container's resources unless rayStartParams
   or the group's `resources:` field already set them);
2. otherwise Ray autodetects: CPU from the container's cgroup (its cpu limit, else the node's
   CPUs); memory about 70% of what the container may use; GPU from the devices the container
   sees: those of its device-plugin limits (for time-sliced or MPS shares, the distinct GPUs
   behind them), every NVIDIA GPU of the node when `NVIDIA_VISIBLE_DEVICES=all` and no NVIDIA
   limit (the device plugin overrides the variable where there is one; KubeRay issue 2098),
   the devices DRA hands it, KAI's one shared GPU; HPU from a Gaudi limit;
3. Ray adds `accelerator_type:<T>` and the label `ray.io/accelerator-type` from the GPU model it
   detects (GFD's product label stands for NVML), and the label `ray.io/node-group`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from gpuconf.inputs.expectations import Expectations
from gpuconf.inputs.images import ImageEnvRule, image_env
from gpuconf.inputs.resources import INTEL_GPU_DEVICES, gpu_amount, is_nvidia_gpu
from gpuconf.model.accelerators import (
    ACCELERATOR_RESOURCE_PREFIX,
    RAY_ACCELERATOR_LABEL,
    accelerator_kind,
    accelerators_in,
    gpu_sharing,
    is_shared_resource,
    node_accelerator_type,
    ray_type_from_nvml_name,
)
from gpuconf.model.dra import DraDevice
from gpuconf.model.raystart import RayStartArgs

# Ray sizes its `memory` resource from what the container may use, less the object store.
RAY_AUTODETECT_MEMORY_FRACTION = 0.7
# The Ray label KubeRay (>= 1.1) and Ray (>= 2.49) put on every node: the pod's group.
NODE_GROUP_LABEL = "ray.io/node-group"


class NodeView(Protocol):
    """The Kubernetes node a pod is bound to (the plan's NodeModel, kwok's NodeInfo)."""

    name: str
    labels: dict[str, str]
    allocatable: dict[str, Decimal]


@dataclass(frozen=True)
class RayPod:
    """What decides a pod's Ray node: its command, its Ray container, and what else hands it devices."""

    group_label: str  # ray.io/group: `headgroup` or the worker group's name
    start: RayStartArgs  # the `ray start` command as the container runs it (after bash)
    limits: Mapping[str, Decimal]  # the Ray container's limits
    env: Mapping[str, str]  # the container's env as the runtime sees it (container_env)
    kai_fraction: str | None = None  # KAI's fractional-GPU annotation, if any
    dra_gpus: Sequence[DraDevice] = ()  # GPUs DRA hands the container (on its node)
    dra_notes: Sequence[str] = ()


@dataclass
class RayNodeResources:
    """The resources and labels Ray gives the node, and which of them Ray autodetected."""

    resources: dict[str, float]  # amounts > 0 only
    labels: dict[str, str]
    autodetected: list[str] = field(default_factory=list)
    # A GPU is there but the node's labels do not show its model: accelerator_type cannot be judged.
    model_unknown: bool = False


def container_env(
    image: str, pod_env: Mapping[str, str], expectations: Expectations
) -> tuple[dict[str, str], ImageEnvRule | None]:
    """The Ray container's env as the runtime sees it: the image's own env, the pod's `env:` on top.

    Returns the env and the image rule that contributed (None when the image is not a known one).
    """
    from_image, source = image_env(image, expectations.image_env)
    return {**from_image, **pod_env}, source


def ray_node_resources(pod: RayPod, node: NodeView, expectations: Expectations) -> RayNodeResources:
    """The resources and labels Ray gives the node this pod starts on `node` (precedence: module docstring)."""
    res = pod.start.resources()
    auto: list[str] = []
    if "CPU" not in res:
        # Ray reads the cgroup's CPU quota and truncates it (ray._private.utils.get_num_cpus).
        limit = pod.limits.get("cpu")
        res["CPU"] = float(int(limit)) if limit else float(node.allocatable.get("cpu", Decimal(0)))
        auto.append(
            "CPU (autodetected: the container's cpu limit, truncated)"
            if limit
            else "CPU (from the node: the container has no cpu limit)"
        )
    if "GPU" not in res:
        res["GPU"] = _autodetected_gpus(pod, node, expectations, auto) + _dra_gpus_seen(pod, auto)
        if pod.kai_fraction and not res["GPU"] and gpu_amount(node.allocatable, is_nvidia_gpu) > 0:
            # KAI hands the pod one GPU it shares (NVIDIA_VISIBLE_DEVICES from its reservation): Ray counts 1.
            res["GPU"] = 1.0
            auto.append(
                f"GPU (autodetected: KAI's {pod.kai_fraction} gives the container a share of one GPU, "
                "which Ray counts as 1)"
            )
    for name, amount in accelerators_in(pod.limits).items():
        kind = accelerator_kind(name)
        # Ray's HPU manager counts the Gaudi devices the container sees (ray/_private/accelerators/hpu.py).
        if kind is not None and kind.ray_resource == "HPU" and "HPU" not in res:
            res["HPU"] = amount
            auto.append(f"HPU (autodetected: the container sees the {amount:g} Gaudi device(s) of its limit)")
    accel_type, unknown = _accelerator_type(pod, node, res)
    if res.get("GPU", 0) > 0 and pod.dra_gpus and not accel_type:
        # NVIDIA's DRA driver publishes the NVML name as the device's productName.
        names = [d.product for d in pod.dra_gpus if d.product]
        accel_type = ray_type_from_nvml_name(names[0]) if names else None
        unknown = accel_type is None
    if accel_type:
        # Ray adds the resource accelerator_type:<T> and the label ray.io/accelerator-type
        # (ray/_private/resource_and_label_spec.py, _resolve_accelerator_resources).
        res[ACCELERATOR_RESOURCE_PREFIX + accel_type] = 1.0
        auto.append(
            f"{ACCELERATOR_RESOURCE_PREFIX}{accel_type} and label {RAY_ACCELERATOR_LABEL}={accel_type} "
            f"(the GPU model the pool shows for {node.name})"
        )
    if "memory" not in res:
        memory = pod.limits.get("memory") or node.allocatable.get("memory", Decimal(0))
        res["memory"] = float(memory) * RAY_AUTODETECT_MEMORY_FRACTION
        auto.append("memory (autodetected, about 70% of what the container may use)")
    labels = {
        NODE_GROUP_LABEL: pod.group_label,
        **({RAY_ACCELERATOR_LABEL: accel_type} if accel_type else {}),
        **pod.start.labels(),
    }
    return RayNodeResources({k: v for k, v in res.items() if v > 0}, labels, auto, unknown)


def leaks_all_gpus(env: Mapping[str, str], limits: Mapping[str, Decimal]) -> bool:
    """NVIDIA_VISIBLE_DEVICES=all in the container's env (`container_env`: the image's and the pod's)
    reaches the runtime: only where no NVIDIA limit makes the device plugin set the variable to the
    devices it allocated. The container then sees every NVIDIA GPU of its node."""
    return env.get("NVIDIA_VISIBLE_DEVICES") == "all" and gpu_amount(limits, is_nvidia_gpu) <= 0


def _leaks_all(pod: RayPod) -> bool:
    return leaks_all_gpus(pod.env, pod.limits)


def _autodetected_gpus(pod: RayPod, node: NodeView, expectations: Expectations, auto: list[str]) -> float:
    """What Ray counts as GPU without --num-gpus: the devices the container sees.

    Those the device plugin gave it (its limit; for time-sliced or MPS shares, the distinct
    GPUs behind them), or every NVIDIA GPU of the node when the image or pod leaks them
    (NVIDIA_VISIBLE_DEVICES=all, KubeRay issue 2098). Intel GPUs count only through dpctl,
    which Ray's images do not ship (ray/_private/accelerators/intel_gpu.py).
    """
    intel = gpu_amount(pod.limits, lambda n: n in INTEL_GPU_DEVICES)
    seen = 0.0
    for name, amount in pod.limits.items():
        kind = accelerator_kind(name)
        if name in INTEL_GPU_DEVICES or amount <= 0:
            continue
        if (kind is not None and kind.is_gpu) or expectations.is_gpu_resource(name):
            seen += shared_devices_seen(name, float(amount), node.labels)
    leak = _leaks_all(pod)
    gpus = float(gpu_amount(node.allocatable, is_nvidia_gpu)) if leak else seen
    auto.append(
        "GPU (autodetected: "
        + (
            "NVIDIA_VISIBLE_DEVICES=all (pod or image env) exposes the node's GPUs)"
            if leak
            else f"the container sees the {gpus:g} device(s) of its limit)"
        )
    )
    if intel > 0:
        auto.append(
            f"GPU: the {intel:g} Intel GPU(s) of the limit count 0 unless the image has dpctl; "
            "KubeRay adds no --num-gpus for gpu.intel.com/*: set rayStartParams num-gpus"
        )
    return gpus


def _dra_gpus_seen(pod: RayPod, auto: list[str]) -> float:
    """GPUs the DRA driver hands the Ray container (CDI): those of the claims it lists, and of its DRA-served limits."""
    if not pod.dra_gpus:
        return 0.0
    auto.append(
        f"GPU (autodetected: DRA gives the container {len(pod.dra_gpus)} device(s): "
        + "; ".join(pod.dra_notes)
        + "; KubeRay adds no --num-gpus for a claim)"
    )
    return float(len(pod.dra_gpus))


def shared_devices_seen(resource: str, amount: float, labels: Mapping[str, str]) -> float:
    """Distinct GPUs behind `amount` devices of a resource: for time-slices or MPS shares at most GFD's gpu.count.

    The device plugin spreads replicas over the GPUs (its preferred allocation), so N shares
    reach min(N, gpu.count) GPUs; with gpu.count unknown, at most N.
    """
    if not is_shared_resource(resource, labels):
        return amount
    count = gpu_sharing(labels).count
    return min(amount, float(count)) if count else amount


def _accelerator_type(pod: RayPod, node: NodeView, res: dict[str, float]) -> tuple[str | None, bool]:
    """The accelerator type Ray detects on this node, and whether a GPU is there whose model the pool does not show.

    Ray asks the vendor library (NVML) for device 0 of what the container sees: nothing
    without a device, whatever --num-gpus says.
    """
    if res.get("GPU", 0) <= 0:
        return None, False
    held = [n for n in accelerators_in(pod.limits) if (k := accelerator_kind(n)) is not None and k.is_gpu]
    if not held and pod.env.get("NVIDIA_VISIBLE_DEVICES") == "all" and gpu_amount(node.allocatable, is_nvidia_gpu) > 0:
        held = ["nvidia.com/gpu"]  # NVIDIA_VISIBLE_DEVICES=all shows the node's GPUs
    for name in sorted(held):
        found = node_accelerator_type(node.labels, name)
        if found:
            return found, False
    return None, bool(held)
