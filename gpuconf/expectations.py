"""The declared intent (`kind: Expectations`): what counts as a GPU node and which deployments need one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuconf.errors import InputError, Loc
from gpuconf.loader import LDict, loc_of, require

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
    loc: Loc
    doc: Any = field(repr=False, default=None)

    def is_gpu_node(self, labels: dict[str, str]) -> bool:
        """A node is a GPU node when it carries every label of the selector."""
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
        raise InputError(loc_of(doc, "apiVersion"), f"Expectations apiVersion must be gpuconf/v1, got {doc.get('apiVersion')!r}",
                         "set `apiVersion: gpuconf/v1`")
    selector = require(doc, "gpuNodes", "nodeSelector", kind=dict, what="labels that mark GPU nodes")
    for k, v in selector.items():
        if not isinstance(v, str):
            raise InputError(loc_of(doc, "gpuNodes", "nodeSelector", k), f"label value for {k!r} must be a string",
                             f'quote it: {k}: "{v}"'.replace("True", "true"))
    resource = doc.get("gpuNodes", {}).get("gpuResource", "nvidia.com/gpu")
    deps = []
    for i, item in enumerate(require(doc, "gpuDeployments", kind=list)):
        app = require(doc, "gpuDeployments", i, "app", kind=str)
        name = require(doc, "gpuDeployments", i, "deployment", kind=str)
        gpus = item.get("gpusPerReplica", 1)
        if not isinstance(gpus, (int, float)) or isinstance(gpus, bool) or gpus <= 0:
            raise InputError(loc_of(doc, "gpuDeployments", i, "gpusPerReplica"),
                             "gpusPerReplica must be a positive number", "e.g. `gpusPerReplica: 1`")
        deps.append(GpuDeployment(app, name, float(gpus), loc_of(doc, "gpuDeployments", i)))
    mode = doc.get("isolation", {}).get("zeroGpuOnGpuNode", "warn")
    if mode not in ISOLATION_MODES:
        raise InputError(loc_of(doc, "isolation", "zeroGpuOnGpuNode"), f"zeroGpuOnGpuNode must be one of {ISOLATION_MODES}",
                         "use `warn` or `fail`")
    return Expectations(dict(selector), resource, deps, mode, doc.loc, doc)
