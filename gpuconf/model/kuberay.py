"""A model of what KubeRay makes of each group: the pod it builds and its `ray start` command.

Follows KubeRay's pod builder: rayStartParams win; otherwise --num-cpus comes from
limits.cpu (requests.cpu as fallback, rounded up), --memory from limits.memory,
--num-gpus from the first limit whose name ends in `gpu` (or is an nvidia.com/mig-*
slice), and `TPU`/`neuron_cores` in --resources from a google.com/tpu or
aws.amazon.com/neuroncore limit; --block, --metrics-export-port and --dashboard-agent-listen-port are
added; the head gets --dashboard-host=0.0.0.0 and workers --address. Parameters are
sorted and joined as `--k=v` (`--k` for "true"), and the whole command runs through
`bash -c`, which is where an unescaped JSON value falls apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from gpuconf.errors import ApiServerRefusal, KubeRayRefusal, Loc, RayStartRefusal
from gpuconf.inputs.loader import LDict, get, loc_of, require
from gpuconf.inputs.quantity import ceil_int, quantity
from gpuconf.inputs.resources import GpuPredicate, gpu_amount, is_gpu_resource
from gpuconf.model.dra import PodClaims
from gpuconf.model.raystart import RayStartArgs, parse_ray_start
from gpuconf.model.resources_json import ResourcesJsonError, kuberay_resources, kuberay_resources_error
from gpuconf.model.shell import bash_words

HEAD_GROUP = "headgroup"
HEAD_PORT = "6379"
METRICS_PORT = "8080"
DASHBOARD_AGENT_LISTEN_PORT = "52365"
# Worker pods get this init container (wait-gcs-ready) unless it is switched off in the operator.
INIT_CONTAINER_REQUESTS = {"cpu": Decimal("0.2"), "memory": Decimal(256 * 1024**2)}
_BOOL_AS_VALUE = {"log-color", "include-dashboard"}


@dataclass
class GroupModel:
    """One head or worker group and the pods KubeRay builds for it."""

    name: str
    is_head: bool
    replicas: int
    path: tuple[Any, ...]
    template: LDict
    params: dict[str, str]
    command: str
    start: RayStartArgs
    pod_requests: dict[str, Decimal]
    container_limits: dict[str, Decimal]
    env: dict[str, str] = field(default_factory=dict)
    pod_labels: dict[str, str] = field(default_factory=dict)
    image: str = ""
    # Pods the in-tree autoscaler may add on top of `replicas` (maxReplicas x numOfHosts less
    # `replicas`); 0 without enableInTreeAutoscaling, and for the head.
    autoscale_extra: int = 0
    hosts: int = 1
    # DRA claims of the pod (gpuconf.model.dra; set by the plan from the claim templates given).
    dra: PodClaims | None = None
    dra_ext_classes: dict[str, LDict] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The value of the pod label ray.io/group and of the Ray label ray.io/node-group."""
        return HEAD_GROUP if self.is_head else self.name

    def gpu_limit(self, resource: str | GpuPredicate = "nvidia.com/gpu") -> Decimal:
        """The container's limit of the GPU resource (0 when absent).

        `resource` is one name, or a predicate (Expectations.is_gpu_resource) whose names are summed.
        """
        if callable(resource):
            return gpu_amount(self.container_limits, resource)
        return self.container_limits.get(resource, Decimal(0))


def cluster_groups(spec: LDict, cluster_name: str, namespace: str = "default") -> list[GroupModel]:
    """Model every group of a RayCluster spec (head first, then workers in order).

    Workers reach the head through its service's FQDN and the head's `port` param.
    """
    head_spec = require(spec, "headGroupSpec", kind=dict)
    port = str((head_spec.get("rayStartParams") or {}).get("port", HEAD_PORT))
    head_address = f"{cluster_name}-head-svc.{namespace}.svc.cluster.local:{port}"
    groups = [_group(spec, ("headGroupSpec",), head_spec, True, cluster_name, head_address)]
    autoscaling = autoscaler_enabled(spec)
    for i, worker in enumerate(get(spec, "workerGroupSpecs", default=[]) or []):
        if not isinstance(worker, dict):
            raise ApiServerRefusal(loc_of(spec, "workerGroupSpecs", i), "a worker group must be a mapping")
        require(spec, "workerGroupSpecs", i, "groupName", kind=str)
        group = _group(spec, ("workerGroupSpecs", i), cast(LDict, worker), False, cluster_name, head_address)
        if autoscaling and worker.get("suspend") is not True:
            group.autoscale_extra = max(0, autoscale_ceiling(worker) - group.replicas)
        groups.append(group)
    return groups


def autoscaler_enabled(spec: LDict) -> bool:
    """enableInTreeAutoscaling: true starts Ray's autoscaler beside the head, which scales the worker groups."""
    return spec.get("enableInTreeAutoscaling") is True


def autoscale_ceiling(worker: dict[str, Any]) -> int:
    """Pods the autoscaler may run for a worker group: maxReplicas x numOfHosts (the CRD's default maxReplicas is 2^31-1)."""
    high = worker.get("maxReplicas")
    high = 2**31 - 1 if high is None else high
    return int(high) * int(worker.get("numOfHosts", 1) or 1)


def _group(spec: LDict, path: tuple[Any, ...], g: LDict, is_head: bool, cluster: str, head_address: str) -> GroupModel:
    from gpuconf.inputs import schema

    template = require(spec, *path, "template", kind=dict)
    containers = require(spec, *path, "template", "spec", "containers", kind=list)
    if not containers:
        raise KubeRayRefusal(
            loc_of(spec, *path, "template", "spec", "containers"),
            "the pod template has no container",
            "add the Ray container",
        )
    schema.validate_pod_template(template, f"{'head' if is_head else g.get('groupName')} pod template")
    name = HEAD_GROUP if is_head else str(g["groupName"])
    replicas = 1 if is_head else _replicas(spec, path, g)
    params = _params(spec, path, g)
    container = containers[0]
    limits = _resource_map(container, "limits", spec, path)
    requests = _resource_map(container, "requests", spec, path)
    _apply_group_fields(spec, path, g, params)
    if is_head and autoscaler_enabled(spec):
        # KubeRay (common/pod.go) turns off Ray's own monitor: the autoscaler runs as a sidecar.
        params["no-monitor"] = "true"
    ray_params = _complete_params(params, is_head, limits, requests, head_address)
    command = ("ray start --head " if is_head else "ray start ") + _convert_param_map(ray_params)
    try:
        argv = bash_words(command)
    except ValueError as exc:
        argv = command.split()
        start = RayStartArgs(argv=argv, error=f"bash: cannot parse the generated command ({exc})")
    else:
        start = parse_ray_start(argv)
    _refuse(spec, path, g, start)
    env = {
        str(e.get("name")): str(e.get("value", ""))
        for e in container.get("env") or []
        if isinstance(e, dict) and "value" in e
    }
    return GroupModel(
        name=name,
        is_head=is_head,
        replicas=replicas,
        path=path,
        template=template,
        params=params,
        command=command,
        start=start,
        pod_requests=_pod_requests(template, is_head, spec, path),
        container_limits=limits,
        env=env,
        pod_labels=dict(get(template, "metadata", "labels", default={}) or {}),
        image=str(container.get("image") or ""),
        hosts=1 if is_head else int(g.get("numOfHosts", 1) or 1),
    )


def _refuse(spec: LDict, path: tuple[Any, ...], g: LDict, start: RayStartArgs) -> None:
    """A rayStartParams value `ray start` refuses is bad input at its line (exit 2).

    A refused value KubeRay made itself (from the group's `resources:` quantities or the
    container's limits) is left to the RAY-START rule: the input is valid, the chain breaks it.
    """
    refusal = start.refusal
    if refusal is None or refusal.option not in (g.get("rayStartParams") or {}):
        return
    raise RayStartRefusal(
        loc_of(spec, *path, "rayStartParams", refusal.option),
        f"`ray start` refuses rayStartParams.{refusal.option}: {g['rayStartParams'][refusal.option]!r}: "
        f"{refusal.why}; the pod's Ray node never starts",
        refusal.fix,
    )


def _replicas(spec: LDict, path: tuple[Any, ...], g: LDict) -> int:
    """KubeRay's desired replicas: `replicas` clamped into [minReplicas, maxReplicas], times numOfHosts."""
    for key in ("replicas", "minReplicas", "maxReplicas"):
        v = g.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise ApiServerRefusal(loc_of(spec, *path, key), f"{key} must be a non-negative integer")
    if g.get("suspend") is True:
        return 0
    from gpuconf.inputs.sizes import desired_replicas

    # A null is the CRD's default (gpuconf.inputs.crds applies it as the API server does).
    value = desired_replicas(g.get("replicas"), g.get("minReplicas"), g.get("maxReplicas"))
    return value * int(g.get("numOfHosts", 1) or 1)


def _params(spec: LDict, path: tuple[Any, ...], g: LDict) -> dict[str, str]:
    raw = g.get("rayStartParams") or {}
    if not isinstance(raw, dict):
        raise ApiServerRefusal(loc_of(spec, *path, "rayStartParams"), "rayStartParams must be a mapping of strings")
    out = {}
    for k, v in raw.items():
        if not isinstance(v, str):
            raise ApiServerRefusal(
                loc_of(spec, *path, "rayStartParams", k),
                f"rayStartParams.{k} must be a string (the CRD is map[string]string), got {type(v).__name__}",
                f'quote it: {k}: "{v}"',
            )
        out[str(k)] = v
    return out


def _resource_map(container: dict, which: str, spec: LDict, path: tuple[Any, ...]) -> dict[str, Decimal]:
    raw = get(container, "resources", which, default={}) or {}
    loc = loc_of(spec, *path, "template", "spec", "containers", 0, "resources", which)
    return {str(k): quantity(v, loc, f"resources.{which}.{k}") for k, v in raw.items()}


def _complete_params(
    params: dict[str, str], is_head: bool, limits: dict[str, Decimal], requests: dict[str, Decimal], address: str
) -> dict[str, str]:
    out = dict(params)
    if not is_head and "address" not in out:
        out["address"] = address
    if is_head and "dashboard-host" not in out:
        out["dashboard-host"] = "0.0.0.0"
    out.setdefault("metrics-export-port", METRICS_PORT)
    out["block"] = "true"
    out.setdefault("dashboard-agent-listen-port", DASHBOARD_AGENT_LISTEN_PORT)
    if "num-cpus" not in out:
        cpu = limits.get("cpu") or requests.get("cpu")
        if cpu:
            out["num-cpus"] = str(ceil_int(cpu))
    if "memory" not in out and limits.get("memory"):
        out["memory"] = str(ceil_int(limits["memory"]))
    # KubeRay reads rayStartParams.resources as JSON (after trimming quotes) before it
    # scans the limits for GPUs; when that fails it logs the error and skips --num-gpus.
    if "num-gpus" not in out and limits and kuberay_resources_json_error(out) is None:
        for key in sorted(limits):
            if is_gpu_resource(key) and limits[key] != 0:
                out["num-gpus"] = str(ceil_int(limits[key]))
                break
    if limits and kuberay_resources_json_error(out) is None:
        _add_custom_accelerator(out, limits)
    return out


# KubeRay's customAcceleratorToRayResourceMap (common/pod.go, v1.5.0): these limits become a Ray
# custom resource in --resources, the first one (by sorted name) only.
CUSTOM_ACCELERATORS = {"aws.amazon.com/neuroncore": "neuron_cores", "google.com/tpu": "TPU"}


def _add_custom_accelerator(params: dict[str, str], limits: dict[str, Decimal]) -> None:
    """addWellKnownAcceleratorResources: a TPU or Neuron limit becomes `TPU`/`neuron_cores` in --resources.

    Skipped when rayStartParams.resources already names one of them. KubeRay rewrites the
    whole value as Go's json.Marshal prints the map (sorted keys, no spaces) in single quotes.
    """
    try:
        current = kuberay_resources(params.get("resources"))
    except ResourcesJsonError:
        return  # KubeRay logs the error and adds nothing
    if any(name in current for name in CUSTOM_ACCELERATORS.values()):
        return
    for key in sorted(limits):
        name = CUSTOM_ACCELERATORS.get(key)
        if name and limits[key] != 0:
            current[name] = float(limits[key])
            shown = {k: int(v) if float(v) == int(v) else float(v) for k, v in sorted(current.items())}
            params["resources"] = "'" + json.dumps(shown, separators=(",", ":")) + "'"
            return


def kuberay_resources_json_error(params: dict[str, str]) -> str | None:
    """Why KubeRay's getResourcesMap cannot read rayStartParams.resources (None when it can)."""
    return kuberay_resources_error(params.get("resources"))


def _apply_group_fields(spec: LDict, path: tuple[Any, ...], g: LDict, params: dict[str, str]) -> None:
    """KubeRay >= 1.5 group-level `resources:` and `labels:` fields.

    `resources` values are quantities (the CRD field is map[string]string): CPU,
    memory and GPU keys become --num-cpus/--memory/--num-gpus, the rest one
    single-quoted JSON object with sorted keys. KubeRay rejects the field together
    with any of those rayStartParams.
    """
    resources = g.get("resources")
    if resources:
        clash = sorted({"num-cpus", "num-gpus", "memory", "resources"} & set(g.get("rayStartParams") or {}))
        if clash:
            raise KubeRayRefusal(
                loc_of(spec, *path, "resources"),
                f"both the group's `resources:` field and rayStartParams {clash} are set",
                "keep one (KubeRay >= 1.5 rejects both)",
            )
        custom: dict[str, float | int] = {}
        for name, raw in resources.items():
            amount = quantity(raw, loc_of(spec, *path, "resources", name), f"resources.{name}")
            key = str(name)
            if key.lower() == "cpu":
                params["num-cpus"] = str(ceil_int(amount))
            elif key.lower() == "memory":
                params["memory"] = str(ceil_int(amount))
            elif is_gpu_resource(key) or key.upper() == "GPU":
                params["num-gpus"] = str(ceil_int(amount))
            else:
                custom[key] = int(amount) if amount == int(amount) else float(amount)
        if custom:
            params["resources"] = "'" + json.dumps(dict(sorted(custom.items())), separators=(",", ":")) + "'"
    if g.get("labels"):
        params["labels"] = ",".join(f"{k}={v}" for k, v in sorted(g["labels"].items()))


def _convert_param_map(params: dict[str, str]) -> str:
    parts = []
    for key in sorted(params):
        value = params[key]
        if value.lower() in ("true", "false") and key not in _BOOL_AS_VALUE:
            if value.lower() == "true":
                parts.append(f" --{key} ")
        else:
            parts.append(f" --{key}={value} ")
    return "".join(parts)


def _pod_requests(template: LDict, is_head: bool, spec: LDict, path: tuple[Any, ...]) -> dict[str, Decimal]:
    """Effective pod requests as the scheduler sums them (requests default to limits)."""
    total: dict[str, Decimal] = {}
    for c in get(template, "spec", "containers", default=[]) or []:
        for k, v in _container_requests(c, spec, path).items():
            total[k] = total.get(k, Decimal(0)) + v
    inits = [_container_requests(c, spec, path) for c in get(template, "spec", "initContainers", default=[]) or []]
    if not is_head:
        inits.append(dict(INIT_CONTAINER_REQUESTS))
    for init in inits:
        for k, v in init.items():
            total[k] = max(total.get(k, Decimal(0)), v)
    return total


def _container_requests(container: dict, spec: LDict, path: tuple[Any, ...]) -> dict[str, Decimal]:
    limits = _resource_map(container, "limits", spec, path)
    requests = _resource_map(container, "requests", spec, path)
    return {**limits, **requests}


def group_loc(spec: LDict, group: GroupModel, *sub: Any) -> Loc | None:
    """file:line of a field of this group in the cluster spec."""
    return loc_of(spec, *group.path, *sub)
