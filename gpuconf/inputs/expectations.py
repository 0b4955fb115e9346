"""The declared intent (`kind: Expectations`): what counts as a GPU node and which deployments need one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gpuconf.errors import InputError, Loc
from gpuconf.inputs.images import ImageEnvRule, glob_rule
from gpuconf.inputs.loader import LDict, get, loc_of, require
from gpuconf.inputs.resources import gpu_amount, is_gpu_device_resource
from gpuconf.inputs.suppressions import Suppression, expectation_suppressions

ISOLATION_MODES = ("warn", "fail")
# sharedGpus: what a replica that asks for whole GPUs but gets a time-slice or MPS share is.
SHARED_GPU_MODES = ("allow", "warn", "fail")
# batchScheduler: the gang/batch scheduler KubeRay's operator runs (--batch-scheduler), or Kueue.
BATCH_SCHEDULERS = ("none", "volcano", "yunikorn", "kai-scheduler", "scheduler-plugins", "kueue")


@dataclass(frozen=True)
class GpuDeployment:
    """A deployment whose every replica must run on a GPU node with this many GPUs."""

    app: str
    deployment: str
    gpus_per_replica: float
    loc: Loc | None


@dataclass
class Expectations:
    """Parsed expectations.yaml."""

    gpu_node_selector: dict[str, str]
    # The GPU resource named in fixes and messages: the listed one, else the one the pool advertises most.
    gpu_resource: str
    gpu_deployments: list[GpuDeployment]
    isolation_zero_gpu: str
    loc: Loc | None
    doc: Any = field(repr=False, default=None)
    defaults: bool = False
    # The cluster runs the ExtendedResourceToleration admission plugin (gpuconf.model.admission), e.g. GKE.
    extended_resource_toleration: bool = False
    # The GPU resource names (gpuNodes.gpuResources, or the one gpuResource); None: every name
    # KubeRay's predicate accepts, and Intel's device names (gpuconf.inputs.resources).
    gpu_resources: frozenset[str] | None = None
    # `images:` entries: the env an image sets, before the known-image table (gpuconf.inputs.images).
    image_env: tuple[ImageEnvRule, ...] = ()
    # sharedGpus: allow | warn | fail (SHARED-GPU's severity; allow: no finding).
    shared_gpus: str = "warn"
    # batchScheduler: {name, queue}: None when not declared (then inferred from the RayCluster's labels).
    batch_scheduler: str | None = None
    batch_queue: str | None = None
    # `suppressions:` rules silenced for named targets, each with a reason (gpuconf.inputs.suppressions).
    suppressions: tuple[Suppression, ...] = ()

    def is_gpu_resource(self, name: str) -> bool:
        """Whether a resource of this name is GPUs, by the expectations' list or else KubeRay's predicate."""
        return name in self.gpu_resources if self.gpu_resources is not None else is_gpu_device_resource(name)

    def gpus(self, resources: Mapping[Any, Any]) -> Decimal:
        """The GPUs a mapping of resources (a node's allocatable, a container's limits) holds."""
        return gpu_amount(resources, self.is_gpu_resource)

    def gpu_resources_text(self) -> str:
        """The GPU resources, as messages name them."""
        if self.gpu_resources is not None:
            return " or ".join(sorted(self.gpu_resources))
        return "GPUs (a resource ending in `gpu`, a MIG slice nvidia.com/mig-*, gpu.intel.com/i915 or xe)"

    def is_gpu_node(
        self, labels: Mapping[str, str], allocatable: Mapping[str, Any] | None = None, dra_gpus: int = 0
    ) -> bool:
        """A node is a GPU node when it carries every label of the selector.

        With the defaults (no expectations file) it is one with allocatable GPUs (or DRA GPU devices) instead.
        """
        if self.defaults:
            return self.gpus(allocatable or {}) > 0 or dra_gpus > 0
        return all(labels.get(k) == v for k, v in self.gpu_node_selector.items())

    def gpu_deployment(self, app: str, deployment: str) -> GpuDeployment | None:
        """The expectation for this deployment, if it is one that needs a GPU."""
        for d in self.gpu_deployments:
            if d.app == app and d.deployment == deployment:
                return d
        return None


def parse_expectations(doc: LDict) -> Expectations:
    """Validate and parse an Expectations document, naming file:line on errors."""
    if doc.get("apiVersion") != "gpuconf/v1":
        raise InputError(
            loc_of(doc, "apiVersion"),
            f"Expectations apiVersion must be gpuconf/v1, got {doc.get('apiVersion')!r}",
            "set `apiVersion: gpuconf/v1`",
        )
    selector = require(doc, "gpuNodes", "nodeSelector", kind=dict, what="labels that mark GPU nodes")
    for k, v in selector.items():
        if not isinstance(v, str):
            raise InputError(
                loc_of(doc, "gpuNodes", "nodeSelector", k),
                f"label value for {k!r} must be a string",
                f'quote it: {k}: "{v}"'.replace("True", "true"),
            )
    names = _gpu_resource_names(doc)
    deps = []
    for i, item in enumerate(require(doc, "gpuDeployments", kind=list)):
        if not isinstance(item, dict):
            raise InputError(
                loc_of(doc, "gpuDeployments", i),
                "a gpuDeployments item must be a mapping",
                "e.g. `- {app: ml_service, deployment: MLService, gpusPerReplica: 1}`",
            )
        app = require(doc, "gpuDeployments", i, "app", kind=str)
        name = require(doc, "gpuDeployments", i, "deployment", kind=str)
        gpus = item.get("gpusPerReplica", 1)
        if not isinstance(gpus, (int, float)) or isinstance(gpus, bool) or not 0 < gpus < 1e6:
            raise InputError(
                loc_of(doc, "gpuDeployments", i, "gpusPerReplica"),
                "gpusPerReplica must be a positive number",
                "e.g. `gpusPerReplica: 1`",
            )
        deps.append(GpuDeployment(app, name, float(gpus), loc_of(doc, "gpuDeployments", i)))
    isolation = doc.get("isolation", {})
    if not isinstance(isolation, dict):
        raise InputError(
            loc_of(doc, "isolation"),
            f"isolation must be a mapping, got {type(isolation).__name__}",
            "write `isolation:` then, indented, `zeroGpuOnGpuNode: warn` (or fail)",
        )
    mode = isolation.get("zeroGpuOnGpuNode", "warn")
    if mode not in ISOLATION_MODES:
        raise InputError(
            loc_of(doc, "isolation", "zeroGpuOnGpuNode"),
            f"zeroGpuOnGpuNode must be one of {ISOLATION_MODES}",
            "use `warn` or `fail`",
        )
    admission = doc.get("admission", {})
    if not isinstance(admission, dict) or not isinstance(admission.get("extendedResourceToleration", False), bool):
        raise InputError(
            loc_of(doc, "admission"),
            "admission must be a mapping with extendedResourceToleration: true|false",
            "write `admission:` then, indented, `extendedResourceToleration: true` (GKE runs that plugin)",
        )
    return Expectations(
        dict(selector),
        names[0] if names else DEFAULT_GPU_RESOURCE,
        deps,
        mode,
        doc.loc,
        doc,
        extended_resource_toleration=bool(admission.get("extendedResourceToleration", False)),
        gpu_resources=frozenset(names) if names else None,
        image_env=_image_env_rules(doc),
        shared_gpus=_shared_gpus(doc),
        batch_scheduler=_batch_scheduler(doc)[0],
        batch_queue=_batch_scheduler(doc)[1],
        suppressions=expectation_suppressions(doc),
    )


def _batch_scheduler(doc: LDict) -> tuple[str | None, str | None]:
    """`batchScheduler: volcano` or `batchScheduler: {name: kai-scheduler, queue: team-a}`."""
    raw = doc.get("batchScheduler")
    if raw is None:
        return None, None
    name, queue = (raw.get("name"), raw.get("queue")) if isinstance(raw, dict) else (raw, None)
    if name not in BATCH_SCHEDULERS or (queue is not None and not isinstance(queue, str)):
        raise InputError(
            loc_of(doc, "batchScheduler"),
            f"batchScheduler must be one of {BATCH_SCHEDULERS} (optionally with a queue), got {raw!r}",
            "e.g. `batchScheduler: {name: volcano, queue: gpu-team}` (KubeRay's --batch-scheduler, or kueue)",
        )
    return str(name), queue


def _shared_gpus(doc: LDict) -> str:
    """`sharedGpus: allow|warn|fail` (default warn): whole-GPU replicas on time-sliced or MPS shares."""
    mode = doc.get("sharedGpus", "warn")
    if mode not in SHARED_GPU_MODES:
        raise InputError(
            loc_of(doc, "sharedGpus"),
            f"sharedGpus must be one of {SHARED_GPU_MODES}, got {mode!r}",
            "use `sharedGpus: warn` (or allow, fail)",
        )
    return str(mode)


def _image_env_rules(doc: LDict) -> tuple[ImageEnvRule, ...]:
    """`images: [{image: GLOB, env: {NAME: VALUE}}]`: what those images set in their env (first match wins)."""
    items = doc.get("images", [])
    example = '`images: [{image: "registry.example.com/ml/*", env: {NVIDIA_VISIBLE_DEVICES: all}}]`'
    if not isinstance(items, list):
        raise InputError(loc_of(doc, "images"), "images must be a list", f"e.g. {example}")
    out = []
    for i, item in enumerate(items):
        pattern = item.get("image") if isinstance(item, dict) else None
        env = item.get("env", {}) if isinstance(item, dict) else None
        if not isinstance(pattern, str) or not pattern or not isinstance(env, dict):
            raise InputError(
                loc_of(doc, "images", i),
                "an images item needs `image:` (a glob over repository:tag) and `env:` (a mapping, {} for none)",
                f"e.g. {example}",
            )
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise InputError(
                loc_of(doc, "images", i, "env"),
                "image env names and values must be strings",
                'quote the values: NVIDIA_VISIBLE_DEVICES: "all"',
            )
        out.append(glob_rule(pattern, dict(env), loc_of(doc, "images", i)))
    return tuple(out)


DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"


def _gpu_resource_names(doc: LDict) -> list[str]:
    """gpuNodes.gpuResources (a list) or gpuNodes.gpuResource (one name); [] when neither is given."""
    one = get(doc, "gpuNodes", "gpuResource")
    many = get(doc, "gpuNodes", "gpuResources")
    if one is not None and many is not None:
        raise InputError(
            loc_of(doc, "gpuNodes", "gpuResources"),
            "both gpuResource and gpuResources are set",
            "keep one: `gpuResources: [nvidia.com/gpu, amd.com/gpu]` lists several",
        )
    if one is not None:
        if not isinstance(one, str) or not one:
            raise InputError(
                loc_of(doc, "gpuNodes", "gpuResource"),
                "gpuResource must be a resource name",
                "e.g. `gpuResource: nvidia.com/gpu`",
            )
        return [one]
    if many is None:
        return []
    if not isinstance(many, list) or not many or not all(isinstance(n, str) and n for n in many):
        raise InputError(
            loc_of(doc, "gpuNodes", "gpuResources"),
            "gpuResources must be a non-empty list of resource names",
            "e.g. `gpuResources: [nvidia.com/gpu, nvidia.com/mig-1g.10gb]`",
        )
    return list(dict.fromkeys(many))


def has_allocatable_gpus(allocatable: Mapping[str, Any]) -> bool:
    """Whether a node advertises GPUs, by KubeRay's GPU-resource predicate (so MIG slices count)."""
    return gpu_amount(allocatable) > 0


def most_advertised_gpu_resource(nodes: list[LDict]) -> str:
    """The GPU resource most nodes of the pool advertise (nvidia.com/gpu when none does)."""
    counts: dict[str, int] = {}
    for n in nodes:
        status = n.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        for key in alloc:
            if is_gpu_device_resource(str(key)):
                counts[str(key)] = counts.get(str(key), 0) + 1
    return max(sorted(counts), key=lambda k: counts[k]) if counts else DEFAULT_GPU_RESOURCE


def default_expectations(nodes: list[LDict], serve_bodies: list[Any]) -> Expectations:
    """The documented defaults when no expectations file is given (docs/static-inputs.md).

    GPU nodes: nodes with allocatable GPUs. GPU resource: the GPU resource the nodes advertise
    most (nvidia.com/gpu when none does). GPU deployments: those with `num_gpus > 0`.
    """
    resource = most_advertised_gpu_resource(nodes)
    deps = []
    for body in serve_bodies:
        for app in (body.get("applications") or []) if isinstance(body, dict) else []:
            for dep in (app.get("deployments") or []) if isinstance(app, dict) else []:
                opts = dep.get("ray_actor_options") if isinstance(dep, dict) else None
                gpus = opts.get("num_gpus") if isinstance(opts, dict) else None
                if isinstance(gpus, (int, float)) and not isinstance(gpus, bool) and gpus > 0:
                    deps.append(
                        GpuDeployment(
                            str(app.get("name", "default")),
                            str(dep.get("name")),
                            float(gpus),
                            getattr(dep, "loc", None),
                        )
                    )
    return Expectations({}, resource, deps, "warn", None, None, defaults=True)
