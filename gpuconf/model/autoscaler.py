"""A model of Ray's KubeRay autoscaler: what it believes each group offers, read from the RayCluster.

Ray's autoscaler (ray/autoscaler/_private/kuberay/autoscaling_config.py, Ray 2.60) does not
look at the pods: it derives each group's node type from the spec with parsing of its own,
which differs from the operator's:

- num-cpus, num-gpus and memory from rayStartParams are read with `int()` (as `ray start`'s
  click options read them: "1.5" stops both).
- resources from rayStartParams: the first and last characters are dropped and every
  backslash removed, then the rest must be a JSON object of integers (1.0 fails); the operator
  instead trims quotes and `ray start` reads what bash leaves, where a whole float is fine.
- GPUs from the container: the first limit (then request) whose name ends in `gpu`; a MIG
  slice (nvidia.com/mig-1g.5gb) is not counted, where the operator gives --num-gpus for it.
- limits.cpu (requests.cpu) and memory quantities are rounded up.

When the two disagree the autoscaler scales for resources the Ray node does not have (or
crashes), so pending demand is never met or nodes are added that cannot take it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_UP
from typing import Any

from gpuconf.inputs.quantity import parse_quantity
from gpuconf.model.resources_json import autoscaler_resources


@dataclass
class AutoscalerNodeType:
    """The autoscaler's node type for one group (None resources when it cannot parse the group)."""

    group: str
    min_workers: int
    max_workers: int
    resources: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def _round_up(raw: Any) -> int:
    return int(parse_quantity(raw).to_integral_value(rounding=ROUND_UP))


def _from_param(params: dict[str, Any], key: str) -> int:
    try:
        return int(params[key])
    except (TypeError, ValueError):
        raise ValueError(
            f"rayStartParams.{key}: {params[key]!r} is not an integer, and the autoscaler reads it with int()"
        ) from None


def node_type(group_spec: dict[str, Any], is_head: bool) -> AutoscalerNodeType:
    """The node type the autoscaler derives for a head or worker group spec."""
    name = "headgroup" if is_head else str(group_spec.get("groupName"))
    hosts = int(group_spec.get("numOfHosts", 1) or 1)
    low = 0 if is_head else int(group_spec.get("minReplicas", 0) or 0) * hosts
    high = 0 if is_head else int(group_spec.get("maxReplicas", 2**31 - 1)) * hosts
    out = AutoscalerNodeType(name, low, high)
    try:
        out.resources = _resources(group_spec)
    except (ValueError, ArithmeticError, AssertionError) as exc:
        out.error = str(exc) or type(exc).__name__
    return out


def _resources(group_spec: dict[str, Any]) -> dict[str, int]:
    group_res = {str(k): v for k, v in (group_spec.get("resources") or {}).items()}
    params = {str(k): v for k, v in (group_spec.get("rayStartParams") or {}).items()}
    containers = ((group_spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    k8s = containers[0].get("resources") or {}
    limits, requests = k8s.get("limits") or {}, k8s.get("requests") or {}
    out: dict[str, int] = {}
    if "CPU" in group_res:
        out["CPU"] = _round_up(group_res["CPU"])
    elif "num-cpus" in params:
        out["CPU"] = _from_param(params, "num-cpus")
    elif "cpu" in limits or "cpu" in requests:
        out["CPU"] = _round_up(limits.get("cpu", requests.get("cpu")))
    else:
        raise ValueError("no CPU count: neither rayStartParams.num-cpus nor a cpu limit or request")
    if "GPU" in group_res:
        out["GPU"] = _round_up(group_res["GPU"])
    elif "num-gpus" in params:
        out["GPU"] = _from_param(params, "num-gpus")
    else:
        for key, raw in [*limits.items(), *requests.items()]:
            if str(key).endswith("gpu") and _round_up(raw) > 0:
                out["GPU"] = _round_up(raw)
                break
    custom = _custom(group_res, params)
    tpus = _tpus(group_res, custom, limits, requests)
    if tpus is not None and "TPU" not in custom:
        out["TPU"] = tpus
    out.update(custom)
    if "memory" in group_res:
        out["memory"] = _round_up(group_res["memory"])
    elif "memory" in params:
        out["memory"] = _from_param(params, "memory")
    elif "memory" in limits or "memory" in requests:
        out["memory"] = _round_up(limits.get("memory", requests.get("memory")))
    return out


def _tpus(
    group_res: dict[str, Any], custom: dict[str, int], limits: dict[str, Any], requests: dict[str, Any]
) -> int | None:
    """TPUs: the group's `resources`, then the custom resources, then google.com/tpu limits or requests.

    (The autoscaler also adds a `TPU-<type>-head` resource from GKE's TPU node selectors; not modelled.)
    """
    if "TPU" in group_res:
        return _round_up(group_res["TPU"])
    if "TPU" in custom:
        return custom["TPU"]
    for which in (limits, requests):
        if which.get("google.com/tpu") is not None and _round_up(which["google.com/tpu"]) > 0:
            return _round_up(which["google.com/tpu"])
    return None


def _custom(group_res: dict[str, Any], params: dict[str, Any]) -> dict[str, int]:
    if group_res:
        return {k: _round_up(v) for k, v in group_res.items() if k not in ("CPU", "GPU", "TPU", "memory")}
    if "resources" not in params:
        return {}
    return autoscaler_resources(str(params["resources"]))


def disagreements(auto: AutoscalerNodeType, ray_resources: dict[str, float], memory_explicit: bool) -> list[str]:
    """Where the autoscaler's node type and the Ray node the operator starts differ.

    `ray_resources` are what `ray start` gives the node; memory is compared only when it is
    set explicitly (the autoscaler counts the container's memory, Ray its share of it).
    """
    if auto.error:
        return [auto.error]
    out = []
    # accelerator_type:<T> is Ray's own, from the GPU it detects: neither side of this comparison sets it.
    keys = sorted(
        k
        for k in (set(auto.resources) | set(ray_resources)) - {"memory", "object_store_memory"}
        if not k.startswith("accelerator_type:")
    )
    for key in keys:
        have, thinks = ray_resources.get(key, 0.0), float(auto.resources.get(key, 0))
        if abs(have - thinks) > 1e-9:
            out.append(f"{key}: the Ray node has {have:g}, the autoscaler counts {thinks:g}")
    if (
        memory_explicit
        and "memory" in auto.resources
        and abs(ray_resources.get("memory", 0.0) - auto.resources["memory"]) > 1
    ):
        out.append(
            f"memory: the Ray node has {ray_resources.get('memory', 0.0):.0f}, the autoscaler counts "
            f"{auto.resources['memory']}"
        )
    return out
