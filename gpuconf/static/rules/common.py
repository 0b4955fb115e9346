"""What more than one rule (and ``--fix``) decides about the plan: one helper each.

Which groups sit on GPU nodes only, which custom resources a group advertises, which steer GPU
replicas to GPU workers, what a group's Ray node offers, and where a deployment's options are.
"""

from __future__ import annotations

from typing import Any

from gpuconf.errors import Loc
from gpuconf.inputs.loader import loc_of
from gpuconf.model.kuberay import GroupModel, is_gpu_resource
from gpuconf.model.plan import DeploymentPlan, Plan
from gpuconf.model.resources_json import intended_resources

# The share of a marker resource a replica requests: enough to steer it to the nodes that
# advertise the marker, too little to limit how many replicas fit there.
MARKER_SHARE = 0.001
_BUILTIN = {"CPU", "GPU", "memory"}


def cluster_spec(plan: Plan) -> Any:
    """The RayCluster spec the plan was made from."""
    return plan.target.cluster.spec


def is_custom_resource(name: str) -> bool:
    """A resource a group must advertise itself: not CPU, GPU, memory or Ray's accelerator_type."""
    return name not in _BUILTIN and not name.startswith("accelerator_type:")


def gpu_nodes_only(plan: Plan, nodes: list[str]) -> bool:
    """Whether there are nodes and every one is a GPU node (pass ``plan.could_land_on(group)``)."""
    return bool(nodes) and all(plan.is_gpu_node(n) for n in nodes)


def advertised(group: GroupModel) -> dict[str, float]:
    """The custom resources the group's `ray start` advertises (none when it fails)."""
    return group.start.custom_resources() if group.start.error is None else {}


def intended(group: GroupModel) -> dict[str, float]:
    """The custom resources the group means to advertise, even where the shell breaks the value."""
    custom = advertised(group)
    if custom or "resources" not in group.params:
        return custom
    parsed = intended_resources(group.params["resources"]) or {}
    return {str(k): float(v) for k, v in parsed.items() if isinstance(v, (int, float))}


def gpu_markers(plan: Plan) -> set[str]:
    """Custom resources that expected-GPU deployments request and a GPU-node group advertises."""
    requested = {r for d in plan.gpu_deployment_demands() for r in d.resources if is_custom_resource(r)}
    on_gpu = {
        r for g in plan.groups if not g.is_head and gpu_nodes_only(plan, plan.could_land_on(g)) for r in intended(g)
    }
    return requested & on_gpu


def node_offer(g: GroupModel) -> dict[str, float]:
    """What the group's Ray node offers a replica (its GPUs from the container's limit when not given)."""
    if g.start.error:
        return {}
    res = g.start.resources()
    res.setdefault("GPU", float(sum(v for k, v in g.container_limits.items() if is_gpu_resource(k))))
    return {k: v for k, v in res.items() if v > 0}


def opts_loc(plan: Plan, d: DeploymentPlan, *sub: Any) -> Loc | None:
    """file:line of the deployment's ray_actor_options (or of a field under them)."""
    return loc_of(plan.target.serve.body, *d.demand.path, "ray_actor_options", *sub) or d.demand.loc
