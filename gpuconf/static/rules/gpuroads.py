"""Rules for the other roads GPUs take to a pod: time-sliced and MPS shares, and DRA claims.

Each decision is made here once; gpuconf.static.fixes imports the helpers it needs.
Sources: NVIDIA k8s-device-plugin (internal/rm/rm.go: a request of more than one shared
replica is refused when failRequestsGreaterThanOne, which api/config/v1/config.go turns on for
MPS by default; GFD's labels in internal/lm/resource.go), KubeRay v1.5.0 common/pod.go
(--num-gpus from IsGPUResourceKey limits only), Ray 2.60
autoscaler/_private/kuberay/autoscaling_config.py (`_get_num_gpus`: rayStartParams num-gpus,
else a container limit or request whose name ends in `gpu`; never a DRA claim).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gpuconf.model.accelerators import gpu_sharing, is_shared_resource
from gpuconf.model.kuberay import GroupModel, autoscaler_enabled
from gpuconf.model.plan import Plan
from gpuconf.static.catalogue import ERROR, WARNING, Finding, rule
from gpuconf.static.rules.common import at_group, at_options


@dataclass(frozen=True)
class SharedSlot:
    """A group's shared GPU resource on a node it can land on."""

    group: GroupModel
    node: str
    resource: str
    amount: float
    strategy: str
    count: int | None


def shared_slots(plan: Plan, group: GroupModel) -> list[SharedSlot]:
    """Where the group's GPU limit would be time-slices or MPS shares rather than whole GPUs."""
    from gpuconf.inputs.resources import gpu_amount, is_nvidia_gpu
    from gpuconf.model.gang import kai_fraction

    fraction = kai_fraction(group.template)
    by_node: dict[str, list[SharedSlot]] = {}
    for node in plan.nodes:
        here = []
        if fraction and gpu_amount(node.allocatable, is_nvidia_gpu) > 0:
            here.append(SharedSlot(group, node.name, fraction, 1.0, "KAI fractional", gpu_sharing(node.labels).count))
        for res, amount in group.container_limits.items():
            if amount > 0 and is_shared_resource(res, node.labels):
                sharing = gpu_sharing(node.labels)
                here.append(
                    SharedSlot(group, node.name, res, float(amount), sharing.strategy or "shared", sharing.count)
                )
        if here:
            by_node[node.name] = here
    # Most pools share no GPU: where the group fits is asked (a scheduler run per node) only when some node would.
    if not by_node:
        return []
    return [s for name in plan.could_land_on(group) for s in by_node.get(name, [])]


def unshared_gpu_nodes(plan: Plan) -> list[str]:
    """GPU nodes of the pool whose GPUs GFD says are not shared (sharing-strategy none)."""
    return [
        n.name
        for n in plan.nodes
        if gpu_sharing(n.labels).strategy == "none" and plan.expectations.gpus(n.allocatable) > 0
    ]


@rule(
    "SHARED-GPU",
    WARNING,
    "a replica that asks for whole GPUs lands on a time-sliced or MPS share of one (severity: sharedGpus)",
)
def _shared_gpu(plan: Plan) -> Iterator[Finding]:
    """A whole GPU in Ray's books, a share of one in the hardware: the replica competes for it."""
    mode = plan.expectations.shared_gpus
    if mode == "allow":
        return
    slots = {g.label: shared_slots(plan, g) for g in plan.groups}
    if not any(slots.values()):
        return
    group_of = {n.name: n.group.label for n in plan.ray_nodes}
    for d in plan.deployments:
        if d.demand.num_gpus < 1:
            continue
        groups = {group_of[n] for n in d.feasible}
        hosts = [s for g in plan.groups if g.label in groups for s in slots[g.label]]
        if not hosts:
            continue
        where = "; ".join(
            f"group {s.group.label}'s pods can land on {s.node}, where {s.resource}: {s.amount:g} is a {s.strategy} share"
            for s in hosts
        )

        yield Finding(
            at_options(plan, d, "num_gpus"),
            f"{d.demand.key} reserves num_gpus: {d.demand.num_gpus:g} (whole GPUs) but {where}: "
            "other pods share that GPU's time (time-slicing) or its SMs and memory bandwidth (MPS), so "
            "latency and memory are not what a whole GPU gives",
            'pin the GPU group to unshared GPU nodes (nodeSelector nvidia.com/gpu.sharing-strategy: "none"), '
            "or, if shares are intended, set `sharedGpus: allow` in the expectations",
            evidence={
                "nodes": sorted({s.node for s in hosts}),
                "resources": sorted({s.resource for s in hosts}),
                "groups": sorted({s.group.label for s in hosts}),
            },
            severity=ERROR if mode == "fail" else WARNING,  # the expectations' sharedGpus decides
        )


@rule(
    "SHARED-GPU-REQUEST",
    ERROR,
    "a group asks for more than one time-sliced or MPS share, which the plugin refuses or Ray miscounts",
)
def _shared_request(plan: Plan) -> Iterator[Finding]:
    """MPS: the device plugin refuses >1 replica at Allocate (failRequestsGreaterThanOne, default true for MPS),
    so the kubelet rejects the pod (UnexpectedAdmissionError). Time-slicing: the shares can be one GPU, but
    KubeRay writes --num-gpus from the limit, so Ray hands a 2-GPU actor CUDA_VISIBLE_DEVICES=0,1 where device 1
    does not exist."""
    for g in plan.groups:
        seen: set[tuple[str, str]] = set()
        for s in shared_slots(plan, g):
            if s.amount <= 1 or s.strategy == "KAI fractional" or (s.resource, s.strategy) in seen:
                continue
            if s.strategy == "time-slicing" and s.count is not None and s.count >= s.amount:
                continue  # the plugin spreads the replicas over as many distinct GPUs
            seen.add((s.resource, s.strategy))
            if s.strategy == "mps":
                what = (
                    f"the device plugin refuses a request of {s.amount:g} MPS shares at Allocate "
                    "(failRequestsGreaterThanOne is true for MPS unless its config says false): the kubelet "
                    f"rejects the pod on {s.node} (UnexpectedAdmissionError) and it never runs"
                )
            else:
                behind = (
                    f"{s.count} GPU(s)"
                    if s.count is not None
                    else "an unknown number of GPUs (no nvidia.com/gpu.count label)"
                )
                what = (
                    f"on {s.node} the {s.amount:g} time-slices come from {behind}, so the container may see fewer "
                    f"devices than {s.amount:g}"
                    + (
                        f", while KubeRay passes --num-gpus={int(s.amount)}: Ray hands a multi-GPU replica "
                        "device ids that do not exist"
                        if g.params.get("num-gpus") is None and s.resource == "nvidia.com/gpu"
                        else ""
                    )
                )
            yield Finding(
                at_group(plan, g, "template", "spec", "containers", 0, "resources", "limits", s.resource),
                f"group {g.label} asks for {s.resource}: {s.amount:g}, a {s.strategy} share each: {what}",
                f"ask for {s.resource}: 1 per pod (more pods for more replicas), or use unshared GPUs for multi-GPU pods",
                evidence={
                    "node": s.node,
                    "resource": s.resource,
                    "strategy": s.strategy,
                    "gpu_count": s.count,
                    "amount": s.amount,
                },
            )


def dra_gpu_count(plan: Plan, group: GroupModel) -> int | None:
    """GPUs a pod of the group gets through DRA claims: from the claims (ExactCount), else the planned allocation."""
    if group.dra is None or not group.dra.gpu_claims:
        return None
    if all(not r.prioritized and r.alternatives[0].mode == "ExactCount" for r in group.dra.gpu_claims):
        return sum(r.alternatives[0].count for r in group.dra.gpu_claims)
    for p in plan.pods:
        if p.group is group and p.dra is not None:
            return sum(1 for d in p.dra.for_container(group.dra.container_claims) if d.is_gpu) or None
    return None


@rule(
    "AUTOSCALER-DRA-GPUS",
    ERROR,
    "Ray's autoscaler sees 0 GPUs in a group that gets its GPUs from DRA claims, so it never scales it for GPU demand",
)
def _autoscaler_dra(plan: Plan) -> Iterator[Finding]:
    spec = plan.target.cluster.spec
    if not autoscaler_enabled(spec):
        return
    for g in plan.groups:
        if g.is_head or g.dra is None or not g.dra.gpu_claims:
            continue
        if "num-gpus" in g.params:
            continue
        n = dra_gpu_count(plan, g)
        decided = "" if n is None else f" (each pod gets {n} GPU(s) from its claims)"
        yield Finding(
            at_group(plan, g, "rayStartParams"),
            f"group {g.label} gets its GPUs from DRA claims{decided}: KubeRay adds no --num-gpus and Ray "
            "autodetects them once the pod runs, but Ray's autoscaler reads a group's GPUs from rayStartParams "
            "num-gpus or a container limit ending in `gpu` only: it counts 0, so pending GPU demand never scales "
            "this group up (and it may scale CPU work onto it)",
            f'set rayStartParams num-gpus: "{n if n is not None else "<GPUs per pod>"}" on the group',
            evidence={"claims": [f"{r.claim}/{r.name}" for r in g.dra.gpu_claims], "gpus": n},
        )
