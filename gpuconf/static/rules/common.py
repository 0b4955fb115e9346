"""What more than one rule (and ``--fix``) decides about the plan: one helper each.

Which groups sit on GPU nodes only, which custom resources a group advertises, which steer GPU
replicas to GPU workers, what a group's Ray node offers, and a finding's place: the line it shows
and the key path ``--fix`` edits (``at_group``, ``at_deployment``, ``at_options``, ``at_object``).
"""

from __future__ import annotations

from typing import Any

from gpuconf.inputs.loader import loc_of
from gpuconf.model.kuberay import GroupModel, group_loc, is_gpu_resource
from gpuconf.model.plan import DeploymentPlan, Plan
from gpuconf.model.resources_json import intended_resources
from gpuconf.static.catalogue import Place

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


def side_groups(plan: Plan, gpu: bool) -> list[GroupModel]:
    """Worker groups whose pods land on GPU nodes only (gpu), or somewhere but on no GPU node (not gpu)."""
    out = []
    for g in plan.groups:
        landing = [] if g.is_head else plan.could_land_on(g)
        on_gpu = [n for n in landing if plan.is_gpu_node(n)]
        if landing and len(on_gpu) == (len(landing) if gpu else 0):
            out.append(g)
    return out


def side_markers(plan: Plan, gpu: bool) -> tuple[list[str], set[str]]:
    """Custom resources only the groups of that side advertise (sorted), and those every other group does."""
    side = side_groups(plan, gpu)
    own = {r for g in side for r in intended(g)}
    others = {r for g in plan.groups if all(g is not s for s in side) for r in intended(g)}
    return sorted(own - others), others


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


def at_object(obj: Any, *keys: Any) -> Place:
    """A field of a mapping read from YAML (a document, a List item, a Serve config), by its keys."""
    return Place(loc_of(obj, *keys), getattr(obj, "loc", None), keys)


def at_ray_object(plan: Plan) -> Place:
    """The RayCluster, RayJob or RayService itself."""
    loc = plan.target.cluster.loc
    return Place(loc, loc)


def at_group(plan: Plan, g: GroupModel, *sub: Any) -> Place:
    """A field of the group (``sub`` the keys under it) in the Ray object."""
    c = plan.target.cluster
    keys = (*g.path, *sub)
    return Place(group_loc(c.spec, g, *sub), c.loc, (*c.spec_path, *keys))


def at_deployment(plan: Plan, d: DeploymentPlan, *sub: Any) -> Place:
    """A field of the deployment (``sub`` the keys under it) in the Serve config."""
    body = plan.target.serve.body
    keys = (*d.demand.path, *sub)
    return Place(loc_of(body, *keys) or d.demand.loc, getattr(body, "loc", None), keys)


def at_options(plan: Plan, d: DeploymentPlan, *sub: Any) -> Place:
    """The deployment's ray_actor_options (or a field under them)."""
    return at_deployment(plan, d, "ray_actor_options", *sub)
