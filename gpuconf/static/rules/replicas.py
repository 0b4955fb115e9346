"""Rules on whether a Serve deployment's replicas fit a Ray node at all, and how many."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gpuconf.model.kuberay import GroupModel
from gpuconf.model.plan import DeploymentPlan, Plan
from gpuconf.static.catalogue import ERROR, UNCHECKED, WARNING, Finding, rule
from gpuconf.static.rules.common import at_deployment, at_options, intended, is_custom_resource, node_offer


@rule("RESOURCE-UNADVERTISED", ERROR, "a deployment requests a custom resource that no group advertises")
def _unadvertised(plan: Plan) -> Iterator[Finding]:
    offered = {r for g in plan.groups for r in intended(g)}
    for d in plan.deployments:
        for res in sorted(d.demand.resources):
            if not is_custom_resource(res) or res in offered:
                continue
            yield Finding(
                at_options(plan, d, "resources", res),
                f"{d.demand.key} requests resource {res!r}, which no group advertises",
                f'advertise it on the intended group: rayStartParams resources: "\'{{\\"{res}\\": 1}}\'"',
                evidence={"advertised": sorted(offered)},
            )


@rule("REPLICA-MEMORY", ERROR, "a replica asks for more memory than any node that could otherwise host it")
def _memory(plan: Plan) -> Iterator[Finding]:
    for d in plan.deployments:
        need = d.demand.resources.get("memory")
        if not need:
            continue
        others = [n for n, rs in d.misfits.items() if rs and all(r.startswith("memory:") for r in rs)]
        if others and not d.feasible:
            yield Finding(
                at_options(plan, d, "memory"),
                f"{d.demand.key} asks for {need:.0f} bytes of memory; the nodes that fit it otherwise "
                f"({', '.join(others)}) have {', '.join(_mem(plan, n) for n in others)} bytes",
                "lower ray_actor_options.memory or raise the GPU worker's memory limit",
                evidence={"nodes": others},
            )


def _mem(plan: Plan, node: str) -> str:
    return f"{plan.ray_node(node).resources.get('memory', 0):.0f}"


@rule("SERVE-UNPLACEABLE", ERROR, "a deployment fits no Ray node of the plan")
def _unplaceable(plan: Plan) -> Iterator[Finding]:
    for d in plan.deployments:
        if d.feasible:
            continue
        undecided = _model_unknown_hosts(plan, d)
        if undecided:
            yield Finding(
                at_options(plan, d),
                f"{d.demand.key} asks for an accelerator type "
                f"({_accelerator_asks(d)}); unknown: the pool does not show the GPU model of "
                + ", ".join(f"{n.name} (on {n.k8s_node})" for n in undecided)
                + ", which would host it otherwise: Ray names the type from the GPU it detects there",
                "give the node pool GPU Feature Discovery's labels (nvidia.com/gpu.product), as "
                "`kubectl get nodes -o yaml` prints them where GFD runs, or check it live",
                evidence={"app": d.demand.app, "deployment": d.demand.deployment, "nodes": [n.name for n in undecided]},
                severity=UNCHECKED,  # the pool hides the GPU model: not seen, so not a failure
            )
            continue
        detail = "; ".join(f"{n}: {', '.join(rs)}" for n, rs in d.misfits.items()) or "no Ray node comes up"
        missing = [p.name for p in plan.pods if p.node is None or p.group.start.error]
        if missing:
            detail += f"; not in the cluster: {', '.join(missing)}"
        yield Finding(
            at_options(plan, d),
            f"{d.demand.key} fits no Ray node, so its replicas stay PENDING: {detail}; "
            f"groups: {'; '.join(_group_line(plan, g, d) for g in plan.groups)}",
            "fix the findings above, or change ray_actor_options to what a node offers" + _what_would_change(plan, d),
            evidence={"demand": d.demand.resources, "misfits": d.misfits},
        )


def _accelerator_asks(d: DeploymentPlan) -> str:
    from gpuconf.model.accelerators import ACCELERATOR_RESOURCE_PREFIX, RAY_ACCELERATOR_LABEL

    asks = [
        f"accelerator_type: {r[len(ACCELERATOR_RESOURCE_PREFIX) :]}"
        for r in d.demand.resources
        if r.startswith(ACCELERATOR_RESOURCE_PREFIX)
    ]
    if RAY_ACCELERATOR_LABEL in d.demand.label_selector:
        asks.append(f"label_selector {RAY_ACCELERATOR_LABEL}: {d.demand.label_selector[RAY_ACCELERATOR_LABEL]}")
    return ", ".join(asks)


def _model_unknown_hosts(plan: Plan, d: DeploymentPlan) -> list[Any]:
    """Ray nodes with a GPU of unknown model that would host the deployment but for its accelerator-type asks."""
    from gpuconf.model.accelerators import ACCELERATOR_RESOURCE_PREFIX, RAY_ACCELERATOR_LABEL
    from gpuconf.model.raysched import RayNodeView, ReplicaDemand, node_misfit

    if not _accelerator_asks(d):
        return []
    demand = ReplicaDemand(
        d.demand.app,
        d.demand.deployment,
        1,
        {k: v for k, v in d.demand.resources.items() if not k.startswith(ACCELERATOR_RESOURCE_PREFIX)},
        {k: v for k, v in d.demand.label_selector.items() if k != RAY_ACCELERATOR_LABEL},
        None,
        None,
    )
    return [
        n
        for n in plan.ray_nodes
        if n.model_unknown and not node_misfit(demand, RayNodeView(n.name, n.resources, n.labels))
    ]


def _group_line(plan: Plan, g: GroupModel, d: DeploymentPlan) -> str:
    """One group: its pods (fixed and autoscaled) and what its Ray node offers the deployment."""
    from gpuconf.model.raysched import RayNodeView, ReplicaDemand, node_misfit

    up = sum(1 for p in plan.pods if p.group is g and p.node is not None and not p.autoscaled)
    auto = (
        f", autoscaler may add {g.autoscale_extra} (up {sum(1 for p in plan.pods if p.group is g and p.autoscaled and p.node)})"
        if g.autoscale_extra
        else ""
    )
    offer = node_offer(g)
    why = node_misfit(
        ReplicaDemand(d.demand.app, d.demand.deployment, 1, d.demand.resources, d.demand.label_selector, None, None),
        RayNodeView(g.label, offer, {"ray.io/node-group": g.label, **_labels(g)}),
    )
    return (
        f"{g.label} ({g.replicas} replica(s), {up} scheduled{auto}; offers {offer or 'nothing'}"
        + (f": {', '.join(why)}" if why else ": would fit")
        + ")"
    )


def _labels(g: GroupModel) -> dict[str, str]:
    try:
        return g.start.labels()
    except ValueError:
        return {}


def _what_would_change(plan: Plan, d: DeploymentPlan) -> str:
    """Name the group(s) whose pods would host the deployment if they came up."""
    from gpuconf.model.raysched import RayNodeView, ReplicaDemand, node_misfit

    demand = ReplicaDemand(
        d.demand.app, d.demand.deployment, 1, d.demand.resources, d.demand.label_selector, None, None
    )
    fits = [
        g
        for g in plan.groups
        if not node_misfit(demand, RayNodeView(g.label, node_offer(g), {"ray.io/node-group": g.label, **_labels(g)}))
    ]
    if not fits:
        return "; no group offers what one replica asks for: give a group those resources"
    names = ", ".join(g.label for g in fits)
    return (
        f"; group(s) {names} would host it once a pod of theirs runs: give them replicas (or "
        "enableInTreeAutoscaling: true with maxReplicas > 0) and a node they fit"
    )


@rule("SERVE-AUTOSCALING-MAX", WARNING, "Serve's autoscaling_config max_replicas is beyond what the cluster can hold")
def _serve_autoscaling_max(plan: Plan) -> Iterator[Finding]:
    for d in plan.deployments:
        high = d.demand.max_replicas
        if high is None or not d.feasible or d.unplaced > 0 or d.ceiling >= high:
            continue
        yield Finding(
            at_deployment(plan, d, "autoscaling_config", "max_replicas"),
            f"{d.demand.key}: autoscaling_config.max_replicas is {high}, but the cluster (with every "
            f"group at maxReplicas) holds at most {d.ceiling} replica(s): beyond that Serve's "
            "replicas stay PENDING",
            f"lower max_replicas to {d.ceiling}, or raise the workers' maxReplicas and the node pool",
            evidence={"max_replicas": high, "ceiling": d.ceiling},
        )
