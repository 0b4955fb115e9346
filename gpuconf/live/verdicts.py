"""Verdicts over what the probes saw: placement, GPU accounting, CUDA, isolation.

Pure functions of probe reports and pod records, so each is unit-tested on
reports that are wrong in the way it guards against.
"""

from __future__ import annotations

import re
from typing import Any

from gpuconf.live.devices import DeviceCheck
from gpuconf.live.observe import PodRecord, ReplicaObservation


def placement_problem(obs: ReplicaObservation) -> str | None:
    """Why a replica that must run on a GPU node is not on one (None: it is)."""
    if obs.pod is None:
        return f"replica {obs.replica_id} runs on Ray node {obs.probe.get('node_id')}, which stands for no known pod"
    if obs.pod.is_head:
        return f"replica {obs.replica_id} runs on the head ({obs.pod.pod} on {obs.pod.k8s_node})"
    if not obs.pod.gpu_node:
        return f"replica {obs.replica_id} runs on {obs.pod.pod} on {obs.pod.k8s_node}, which is not a GPU node"
    return None


def label_problem(obs: ReplicaObservation) -> str | None:
    """The replica's own view of its node's labels must name its pod's group."""
    labels = obs.probe.get("node_labels") or {}
    if obs.pod is None:
        return "no pod record for the replica's node"
    if labels.get("ray.io/node-group") != obs.pod.group:
        return f"ray.io/node-group is {labels.get('ray.io/node-group')!r}, its pod's group is {obs.pod.group!r}"
    return None


def _visible(probe: dict[str, Any]) -> list[str] | None:
    cvd = probe.get("cuda_visible_devices")
    if cvd is None:
        return None
    return [d for d in cvd.split(",") if d.strip()]


def accounting_problems(obs: ReplicaObservation, expected_gpus: float, physical: bool) -> list[str]:
    """Pod limit = Ray node GPUs >= the replica's GPU ids = CUDA_VISIBLE_DEVICES (= torch devices on a GPU host)."""
    problems = []
    p = obs.probe
    pod = obs.pod
    gpu_ids = [str(g) for g in p.get("gpu_ids") or []]
    if pod is None:
        return ["no pod record for the replica's node"]
    node_gpus = pod.ray_resources.get("GPU", 0.0)
    if abs(pod.gpus_held - node_gpus) > 1e-9:
        problems.append(
            f"pod {pod.pod} holds {pod.gpus_held:g} GPU(s) from Kubernetes (its GPU limit or DRA claims) "
            f"but its Ray node advertises GPU {node_gpus:g}"
        )
    if node_gpus + 1e-9 < len(gpu_ids):
        problems.append(f"the replica holds {len(gpu_ids)} GPU id(s) on a node with GPU {node_gpus:g}")
    whole = expected_gpus >= 1 and float(expected_gpus).is_integer()
    if whole and len(gpu_ids) != int(expected_gpus):
        problems.append(f"ray.get_gpu_ids() is {gpu_ids}, expected {int(expected_gpus)} GPU(s)")
    if not whole and len(gpu_ids) != 1:
        problems.append(f"a fractional GPU replica should hold one GPU id, got {gpu_ids}")
    visible = _visible(p)
    if visible != gpu_ids:
        problems.append(f"CUDA_VISIBLE_DEVICES is {p.get('cuda_visible_devices')!r} but ray.get_gpu_ids() is {gpu_ids}")
    if physical:
        count = cuda_device_count(p)
        if count != len(gpu_ids):
            source = (p.get("cuda") or {}).get("source") or "torch"
            problems.append(f"{source} sees {count} device(s), the replica holds {len(gpu_ids)} GPU id(s)")
    return problems


def deployed_gpus_problem(obs: ReplicaObservation, expected_gpus: float) -> str | None:
    """The deployment's ``num_gpus`` as Serve runs it (from the config or from code) must be what is expected."""
    option = ((obs.deployed or {}).get("options") or {}).get("ray_actor_options") or {}
    if not obs.deployed:
        return None  # no details of the deployment (an older caller): the replica's own facts decide
    deployed = float((option.get("value") or {}).get("num_gpus") or 0)
    if abs(deployed - expected_gpus) > 1e-9:
        return (
            f"ray_actor_options.num_gpus is {deployed:g} as deployed (set in the {option.get('from')}), "
            f"expected {expected_gpus:g}"
        )
    return None


def cuda_device_count(probe: dict[str, Any]) -> int:
    """How many CUDA devices the process can open: torch's count, else the CUDA driver's (or nvidia-smi's)."""
    cuda = probe.get("cuda")
    if isinstance(cuda, dict) and cuda.get("source"):
        return int(cuda.get("device_count") or 0)
    return int((probe.get("torch") or {}).get("device_count") or 0)


def held_devices(obs: ReplicaObservation) -> list[str]:
    """The devices behind the replica's GPUs: device UUIDs on a GPU host; else the physical GPUs the
    backend modelled for its pod (gpuconf.model.gpushare: replicas of one shared GPU name it twice),
    indexed by Ray's GPU ids; else `<Ray node id>:<GPU id>`."""
    probe = obs.probe
    if has_physical_gpu(probe):
        return [str(d.get("uuid")) for d in probe.get("devices") or []]
    physical = obs.pod.physical_gpus if obs.pod else ()
    out = []
    for gpu in (str(g) for g in probe.get("gpu_ids") or []):
        index = int(gpu) if gpu.isdigit() else len(physical)
        out.append(physical[index] if index < len(physical) else f"{probe.get('node_id')}:{gpu}")
    return out


def has_physical_gpu(probe: dict[str, Any]) -> bool:
    """True when the replica can open a CUDA device (through torch or the CUDA driver)."""
    cuda = probe.get("cuda")
    if isinstance(cuda, dict) and cuda.get("source"):
        return int(cuda.get("device_count") or 0) > 0
    torch_info = probe.get("torch") or {}
    return bool(torch_info.get("cuda_available")) and int(torch_info.get("device_count") or 0) > 0


def cuda_problems(probe: dict[str, Any]) -> list[str]:
    """A working GPU: named devices with a UUID and compute capability, and a kernel that matches the CPU."""
    problems = []
    devices = probe.get("devices") or []
    if not devices:
        problems.append(f"{(probe.get('cuda') or {}).get('source') or 'torch'} lists no CUDA device")
    for d in devices:
        if not d.get("uuid") or not str(d.get("uuid")).startswith("GPU-"):
            problems.append(f"device {d.get('index')} has no UUID ({d.get('uuid')!r})")
        if not d.get("name") or not d.get("capability"):
            problems.append(f"device {d.get('index')} has no name or capability")
    kernel = probe.get("kernel") or {}
    if not kernel.get("ran"):
        problems.append(f"the kernel check did not run: {kernel.get('reason')}")
    elif not kernel.get("ok"):
        problems.append(
            f"the kernel result differs from the CPU: max abs error {kernel.get('max_abs_err')} "
            f"> tolerance {kernel.get('tolerance')}"
        )
    return problems


def sees_gpu(probe: dict[str, Any], node: PodRecord | None) -> str | None:
    """Why a process that reserved no GPU can see one (None: it cannot).

    Direct evidence is torch seeing a device. On a node that has GPUs, a
    CUDA_VISIBLE_DEVICES that is not blank also counts: the process can reach
    them (Ray >= 2.56 no longer blanks it for num_gpus=0), which on a host
    without physical GPUs is the only sign there is.
    """
    count = cuda_device_count(probe)
    if count > 0:
        names = [d.get("name") for d in probe.get("devices") or []]
        source = (probe.get("cuda") or {}).get("source") or "torch"
        return (
            f"{source} sees {count} CUDA device(s) {names} (CUDA_VISIBLE_DEVICES={probe.get('cuda_visible_devices')!r})"
        )
    node_gpus = node.ray_resources.get("GPU", 0.0) if node else 0.0
    if node_gpus > 0 and probe.get("cuda_visible_devices") != "":
        return (
            f"CUDA_VISIBLE_DEVICES is {probe.get('cuda_visible_devices')!r}, not blank, on a node with "
            f"GPU {node_gpus:g}: the GPUs are visible to it without a reservation"
        )
    return None


# Verdicts only a real cluster can give: GPUs from the device plugin, and pods without one seeing none.

_UUID_ENV = re.compile(r"^GPU-[0-9a-fA-F-]+$")


def unprobed_zero_gpu_pods(failed: list[dict[str, Any]], gpus_of_pod: dict[str, float]) -> list[str]:
    """Pods holding no GPU whose Ray node never joined (`LiveCluster.failed`): nothing of theirs was
    probed, so no check may vouch that they see no GPU. A pod the plan does not know counts too."""
    return [
        f"{f.get('pod')}: not probed, its Ray node never joined (ray start exit {f.get('exit_code')})"
        for f in failed
        if gpus_of_pod.get(str(f.get("pod")), 0.0) == 0
    ]


def allocated_uuids(check: DeviceCheck) -> list[str]:
    """The GPUs the device plugin gave the pod: NVIDIA_VISIBLE_DEVICES when it lists UUIDs (the plugin's
    env strategy), else what `nvidia-smi -L` shows inside the container (only the allocated devices)."""
    nvd = [v.strip() for v in (check.nvidia_visible_devices or "").split(",") if v.strip()]
    if nvd and all(_UUID_ENV.match(v) for v in nvd):
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
        return [
            "the pod's NVIDIA_VISIBLE_DEVICES is `all`: it sees every GPU of the node, not what the "
            "device plugin allocated (KubeRay issue 2098)"
        ]
    if not allocated:
        return [
            f"the pod shows no allocated GPU (NVIDIA_VISIBLE_DEVICES={check.nvidia_visible_devices!r}, "
            f"nvidia-smi: {check.smi_lines or 'nothing'})"
        ]
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
