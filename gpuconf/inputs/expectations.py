"""The declared intent (`kind: Expectations`): what counts as a GPU node and which deployments need one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpuconf.errors import InputError, Loc
from gpuconf.inputs.loader import LDict, get, loc_of, require

ISOLATION_MODES = ("warn", "fail")


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
    gpu_resource: str
    gpu_deployments: list[GpuDeployment]
    isolation_zero_gpu: str
    loc: Loc | None
    doc: Any = field(repr=False, default=None)
    defaults: bool = False
    # The cluster runs the ExtendedResourceToleration admission plugin (gpuconf.model.admission), e.g. GKE.
    extended_resource_toleration: bool = False

    def is_gpu_node(self, labels: Mapping[str, str], allocatable: Mapping[str, Any] | None = None) -> bool:
        """A node is a GPU node when it carries every label of the selector.

        With the defaults (no expectations file) it is one with allocatable GPUs instead.
        """
        if self.defaults:
            return has_allocatable_gpus(allocatable or {})
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
    resource = get(doc, "gpuNodes", "gpuResource", default="nvidia.com/gpu")
    if not isinstance(resource, str) or not resource:
        raise InputError(
            loc_of(doc, "gpuNodes", "gpuResource"),
            "gpuResource must be a resource name",
            "e.g. `gpuResource: nvidia.com/gpu`",
        )
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
        resource,
        deps,
        mode,
        doc.loc,
        doc,
        extended_resource_toleration=bool(admission.get("extendedResourceToleration", False)),
    )


def has_allocatable_gpus(allocatable: Mapping[str, Any]) -> bool:
    """Whether a node advertises GPUs, by KubeRay's GPU-resource predicate (so MIG slices count)."""
    from gpuconf.inputs.quantity import parse_quantity
    from gpuconf.inputs.resources import is_gpu_resource

    for key, value in allocatable.items():
        if is_gpu_resource(str(key)):
            try:
                if parse_quantity(value) > 0:
                    return True
            except ValueError:
                continue
    return False


def default_expectations(nodes: list[LDict], serve_bodies: list[Any]) -> Expectations:
    """The documented defaults when no expectations file is given (docs/static-inputs.md).

    GPU nodes: nodes with allocatable GPUs. GPU resource: the GPU resource the nodes advertise
    most (nvidia.com/gpu when none does). GPU deployments: those with `num_gpus > 0`.
    """
    from gpuconf.inputs.resources import is_gpu_resource

    counts: dict[str, int] = {}
    for n in nodes:
        alloc = (n.get("status") or {}).get("allocatable") or (n.get("status") or {}).get("capacity") or {}
        for key in alloc:
            if is_gpu_resource(str(key)):
                counts[str(key)] = counts.get(str(key), 0) + 1
    resource = max(sorted(counts), key=lambda k: counts[k]) if counts else "nvidia.com/gpu"
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
