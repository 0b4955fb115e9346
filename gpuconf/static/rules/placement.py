"""Rules on where GPU deployments' replicas land, how many GPUs they reserve, and how many fit."""

from __future__ import annotations

from collections.abc import Iterator

from gpuconf.model.plan import Plan
from gpuconf.static.catalogue import ERROR, WARNING, Finding, rule
from gpuconf.static.rules.common import MARKER_SHARE, at_deployment, at_options, side_groups, side_markers


@rule("GPU-PLACEMENT", ERROR, "a deployment that must run on GPU nodes can be placed elsewhere")
def _placement(plan: Plan) -> Iterator[Finding]:
    for d in plan.deployments:
        if not plan.expectations.gpu_deployment(d.demand.app, d.demand.deployment):
            continue
        off = [n for n in d.feasible if not plan.ray_node(n).is_gpu_node]
        if off:
            where = ", ".join(
                f"{n} on {plan.ray_node(n).k8s_node}"
                + (" (head)" if plan.ray_node(n).group.is_head else "")
                + (" (added by the autoscaler)" if plan.ray_node(n).autoscaled else "")
                for n in off
            )
            yield Finding(
                at_options(plan, d),
                f"{d.demand.key} must run on GPU nodes but fits Ray node(s) off them: {where}",
                "request num_gpus and a resource only the GPU worker group advertises "
                f"(e.g. resources: {{gpu_worker: {MARKER_SHARE}}}); drop head_node",
                evidence={"feasible": d.feasible, "off_gpu": off},
            )


@rule("GPU-REQUEST", ERROR, "a GPU deployment reserves a different number of GPUs than expected")
def _gpu_request(plan: Plan) -> Iterator[Finding]:
    for d in plan.deployments:
        exp = plan.expectations.gpu_deployment(d.demand.app, d.demand.deployment)
        if exp and abs(d.demand.num_gpus - exp.gpus_per_replica) > 1e-9:
            yield Finding(
                at_options(plan, d, "num_gpus"),
                f"{d.demand.key} reserves num_gpus: {d.demand.num_gpus:g} but each replica must get "
                f"{exp.gpus_per_replica:g} GPU(s); num_gpus 0 does not keep it off GPU nodes either",
                f"set ray_actor_options.num_gpus: {exp.gpus_per_replica:g}",
                evidence={"num_gpus": d.demand.num_gpus, "expected": exp.gpus_per_replica},
            )


def _shortfall(plan: Plan, gpu: bool) -> Iterator[Finding]:
    for d in plan.deployments:
        if d.feasible and d.unplaced > 0 and (d.short_of == "GPU") == gpu:
            floor = d.demand.min_replicas is not None
            field = ("autoscaling_config", "min_replicas") if floor else ("num_replicas",)
            what = "autoscaling_config keeps at least" if floor else ""
            yield Finding(
                at_deployment(plan, d, *field),
                f"{d.demand.key}: {what + ' ' if what else ''}{d.demand.num_replicas} replicas, room for {len(d.placed)} "
                f"{'(every group at maxReplicas) ' if any(g.autoscale_extra for g in plan.groups) else ''}"
                f"(ran out of {d.short_of}); {d.unplaced} stay PENDING",
                f"lower num_replicas to {len(d.placed)} (what fits) or add workers (for GPUs: GPU worker replicas and GPU nodes)",
                evidence={"placed": d.placed, "short_of": d.short_of},
            )


@rule("GPU-CAPACITY", ERROR, "more GPU replicas than the GPU nodes can hold")
def _gpu_capacity(plan: Plan) -> Iterator[Finding]:
    return _shortfall(plan, gpu=True)


@rule(
    "REPLICA-CAPACITY", ERROR, "more replicas than the nodes that fit them can hold (CPU, memory or custom resources)"
)
def _other_capacity(plan: Plan) -> Iterator[Finding]:
    return _shortfall(plan, gpu=False)


@rule("ISOLATION-ZERO-GPU", WARNING, "a replica that reserves no GPU can land on a GPU node and see its GPU")
def _isolation(plan: Plan) -> Iterator[Finding]:
    """Says, per Ray node, what the replica would see there: the GPUs its container holds, or none yet."""
    # The expectations' isolation.zeroGpuOnGpuNode raises it to an error.
    severity = ERROR if plan.expectations.isolation_zero_gpu == "fail" else WARNING
    for d in plan.deployments:
        if d.demand.num_gpus > 0:
            continue
        gpu_nodes = [
            n for n in d.feasible if plan.ray_node(n).is_gpu_node or plan.ray_node(n).resources.get("GPU", 0) > 0
        ]
        if not gpu_nodes:
            continue
        seen = []
        for n in gpu_nodes:
            node = plan.ray_node(n)
            gpus = node.resources.get("GPU", 0)
            where = f"{n} (group {node.group.label}, on {node.k8s_node}{', a GPU node' if node.is_gpu_node else ''})"
            if gpus > 0:
                seen.append(
                    f"{where}, whose Ray node has {gpus:g} GPU(s): on Ray >= 2.56 a replica with num_gpus 0 "
                    "inherits CUDA_VISIBLE_DEVICES unchanged and sees them without reserving them"
                )
            else:
                seen.append(
                    f"{where}, whose container holds no GPU (Ray GPU 0 there): it sees none today, but it shares "
                    "the GPU node and would see any GPU that group is given"
                )
        yield Finding(
            at_options(plan, d),
            f"{d.demand.key} reserves no GPU (num_gpus 0) but can land on " + "; ".join(seen),
            _isolation_fix(plan),
            evidence={
                "gpu_nodes": gpu_nodes,
                "gpus": {n: plan.ray_node(n).resources.get("GPU", 0) for n in gpu_nodes},
                "k8s_nodes": {n: plan.ray_node(n).k8s_node for n in gpu_nodes},
            },
            severity=severity,
        )


def _isolation_fix(plan: Plan) -> str:
    """Name the CPU-only resource or group to pin to, when the plan has one."""
    cpu_groups = [g.label for g in side_groups(plan, gpu=False)]
    only_cpu, _ = side_markers(plan, gpu=False)
    if only_cpu:
        pin = f"request a resource only the CPU workers advertise, e.g. resources: {{{only_cpu[0]}: {MARKER_SHARE}}}"
    elif cpu_groups:
        pin = f"pin it to a CPU group with label_selector: {{ray.io/node-group: {cpu_groups[0]}}}"
    else:
        pin = "add a CPU worker group and pin it there (a resource or label_selector only that group matches)"
    return f"{pin}; or set RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO=1 in the GPU workers' env, so Ray blanks CUDA_VISIBLE_DEVICES for it"
