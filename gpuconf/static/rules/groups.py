"""Rules on each worker group (and the head): its GPU limit, its env, its node selector, what it advertises."""

from __future__ import annotations

from collections.abc import Iterator

from gpuconf.inputs.resources import gpu_amount, is_nvidia_gpu
from gpuconf.model.kuberay import GroupModel, is_gpu_resource
from gpuconf.model.plan import Plan
from gpuconf.static.catalogue import ERROR, WARNING, Finding, rule
from gpuconf.static.rules.common import advertised, at_group, gpu_markers, gpu_nodes_only, intended


@rule("HEAD-GPU", ERROR, "the head group advertises GPUs")
def _head_gpu(plan: Plan) -> Iterator[Finding]:
    for g in plan.groups:
        if not g.is_head:
            continue
        explicit = g.start.resources().get("GPU", 0.0) if g.start.error is None else 0.0
        # KubeRay turns any limit its predicate accepts into --num-gpus, whatever the expectations list.
        limit = g.gpu_limit(lambda n: is_gpu_resource(n) or plan.expectations.is_gpu_resource(n))
        if explicit > 0 or limit > 0:
            where = (
                ("rayStartParams", "num-gpus")
                if "num-gpus" in g.params
                else ("template", "spec", "containers", 0, "resources")
            )
            yield Finding(
                at_group(plan, g, *where),
                f"the head advertises {explicit or limit:g} GPU(s): GPU work can land on the head, "
                "which should only coordinate",
                'set rayStartParams num-gpus: "0" on the head and drop its GPU limit',
                evidence={"num_gpus": explicit, "gpu_limit": float(limit)},
            )


@rule("GPU-GROUP-NO-GPU", ERROR, "a group pinned to GPU nodes has no GPU limit, so its pods get no device")
def _group_no_gpu(plan: Plan) -> Iterator[Finding]:
    from gpuconf.model.accelerators import accelerator_kind, describe
    from gpuconf.model.gang import kai_fraction

    res = plan.expectations.gpu_resource
    for g in plan.groups:
        if g.is_head or g.gpu_limit(plan.expectations.is_gpu_resource) > 0 or not _requires_gpu_labels(plan, g):
            continue
        # A MIG slice, another vendor's GPU or a renamed share is a GPU, whatever the expectations name;
        # so are DRA GPU claims (KubeRay adds nothing for them, Ray counts what the driver hands over).
        if any((k := accelerator_kind(n)) is not None and k.is_gpu and v > 0 for n, v in g.container_limits.items()):
            continue
        if g.dra is not None and g.dra.gpu_claims:
            continue
        if kai_fraction(g.template):
            continue  # KAI's fractional GPU: no limit, a share of one GPU (SHARED-GPU judges it)
        held = describe(g.container_limits)
        yield Finding(
            at_group(plan, g, "template", "spec", "containers", 0, "resources"),
            f"group {g.label} is pinned to GPU nodes but its container has no `{res}` limit"
            + (f" (it holds {held}, which Ray does not count as GPU)" if held else "")
            + ": it holds no GPU, "
            + (
                "and NVIDIA_VISIBLE_DEVICES=all (GPU-LEAK-ENV) lets it use every GPU of the node unreserved"
                if _container_env(plan, g).get("NVIDIA_VISIBLE_DEVICES") == "all"
                else "and Ray advertises GPU: 0 there"
            ),
            f"add `{res}: 1` to the container's limits (and requests)",
            evidence={"limits": {k: str(v) for k, v in g.container_limits.items()}},
        )


def _container_env(plan: Plan, g: GroupModel) -> dict[str, str]:
    from gpuconf.model.plan import container_env

    return container_env(g, plan.expectations)[0]


def _requires_gpu_labels(plan: Plan, g: GroupModel) -> bool:
    spec = g.template.get("spec") or {}
    selector = spec.get("nodeSelector") or {}
    want = plan.expectations.gpu_node_selector
    if not want:  # the defaults name no GPU label: pinned means it can land on GPU nodes only
        landing = plan.could_land_on(g)  # (landing nowhere is POD-UNSCHEDULABLE's to report)
        return gpu_nodes_only(plan, landing) if landing else g.gpu_limit(plan.expectations.is_gpu_resource) > 0
    if all(selector.get(k) == v for k, v in want.items()):
        return True
    terms = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
        or {}
    ).get("nodeSelectorTerms") or []
    return bool(terms) and all(
        all(
            any(
                e.get("key") == k and e.get("operator") == "In" and list(e.get("values") or []) == [v]
                for e in t.get("matchExpressions") or []
            )
            for k, v in want.items()
        )
        for t in terms
    )


@rule(
    "GPU-LEAK-ENV",
    ERROR,
    "a group without a GPU limit has NVIDIA_VISIBLE_DEVICES=all (in its env or its image's) and can land on a GPU node",
)
def _leak_env(plan: Plan) -> Iterator[Finding]:
    """The pod's env, else the image's own env from the known-image table (gpuconf.inputs.images)."""
    from gpuconf.model.plan import container_env

    exp = plan.expectations
    for g in plan.groups:
        env, image_rule = container_env(g, exp)
        if g.gpu_limit(is_nvidia_gpu) > 0 or env.get("NVIDIA_VISIBLE_DEVICES") != "all":
            continue
        # NVIDIA's runtime reads the variable: nodes with NVIDIA GPUs (whole or MIG) are the ones exposed.
        gpu_nodes = [n for n in plan.could_land_on(g) if gpu_amount(plan.node(n).allocatable, is_nvidia_gpu) > 0]
        if not gpu_nodes:
            continue
        from_pod = g.env.get("NVIDIA_VISIBLE_DEVICES") == "all"
        if from_pod:
            where = ("template", "spec", "containers", 0, "env")
            seen = "sets NVIDIA_VISIBLE_DEVICES=all in its env"
            fix = "remove NVIDIA_VISIBLE_DEVICES=all (or set it to void) in groups without a GPU limit"
        else:
            assert image_rule is not None  # the env came from the image
            where = ("template", "spec", "containers", 0, "image")
            seen = (
                f"runs image {g.image}, which sets NVIDIA_VISIBLE_DEVICES=all in its own env "
                f"({image_rule.pattern}: {image_rule.source})"
            )
            fix = (
                "set env NVIDIA_VISIBLE_DEVICES: void in this container (the pod's env overrides the image's), "
                "use a CPU image (e.g. rayproject/ray without -gpu), or keep the group off GPU nodes; if your "
                "runtime ignores the variable, say so in the expectations: images: [{image: ..., env: {}}]"
            )
        yield Finding(
            at_group(plan, g, *where),
            f"group {g.label} reserves no GPU but {seen} and can land on {gpu_nodes}: the NVIDIA runtime "
            "then exposes every GPU of the node to it (KubeRay issue 2098)",
            fix,
            evidence={
                "gpu_nodes": gpu_nodes,
                "image": g.image,
                "from": "pod env" if from_pod else f"image ({image_rule.pattern if image_rule else '?'})",
            },
        )


@rule(
    "GPU-GROUP-SELECTOR",
    ERROR,
    "a group that requests GPUs does not require the GPU node labels "
    "(an error only where a node with allocatable GPUs is not a GPU node)",
)
def _group_selector(plan: Plan) -> Iterator[Finding]:
    """Severity from the scheduler's semantics, not from the missing label alone.

    NodeResourcesFit lets a pod that requests an extended resource (nvidia.com/gpu, a MIG
    slice, amd.com/gpu) bind only to a node whose allocatable has that resource. So without
    the GPU-node selector, the pod can still only land on nodes advertising the resource. If
    every such node of the pool is a GPU node by the expectations, the selector changes
    nothing today: a warning (it guards against GPU nodes added later without the label).
    Only where some node advertises the resource but is not a GPU node by the expectations
    (a pool kept for other work, an unlabelled node) can the pod land where it must not: an
    error, naming those nodes.
    """
    want = plan.expectations.gpu_node_selector
    for g in plan.groups:
        requested = sorted(
            k
            for k, v in g.container_limits.items()
            if (is_gpu_resource(k) or plan.expectations.is_gpu_resource(k)) and v > 0
        )
        if g.is_head or not requested or _requires_gpu_labels(plan, g):
            continue
        advertising = [n for n in plan.nodes if any(n.allocatable.get(r, 0) > 0 for r in requested)]
        wrong = [n.name for n in advertising if not plan.is_gpu_node(n.name)]
        # An error only where the pod can reach a node that is no GPU node; else a guard for later.
        severity = ERROR if wrong else WARNING
        consequence = (
            f"it can land on {wrong}, which advertise {requested} but are not GPU nodes"
            if wrong
            else f"today only GPU nodes advertise {requested}, so the scheduler keeps it on them anyway; a GPU "
            "node added without the labels would take it"
        )
        yield Finding(
            at_group(plan, g, "template", "spec"),
            f"group {g.label} requests {requested} but does not require the GPU node labels {want}: "
            f"a pod that requests an extended resource binds only to nodes advertising it; {consequence}",
            "add nodeSelector: " + ", ".join(f'{k}: "{v}"' for k, v in want.items()) + " to the pod template",
            evidence={
                "nodeSelector": dict((g.template.get("spec") or {}).get("nodeSelector") or {}),
                "advertising": [n.name for n in advertising],
                "not_gpu_nodes": wrong,
            },
            severity=severity,
        )


@rule("GPU-MARKER-LEAK", ERROR, "a resource that GPU deployments use to reach GPU workers is advertised off GPU nodes")
def _marker_leak(plan: Plan) -> Iterator[Finding]:
    markers = gpu_markers(plan)
    for g in plan.groups:
        leaked = sorted(markers & set(intended(g)))
        if not leaked:
            continue
        landing = plan.could_land_on(g)
        if not g.is_head and not [n for n in landing if not plan.is_gpu_node(n)]:
            continue
        where = "the head" if g.is_head else f"group {g.label} (can land on {landing})"
        yield Finding(
            at_group(plan, g, "rayStartParams", "resources"),
            f"{where} advertises {leaked}, the resource GPU deployments request to reach GPU workers: "
            "a replica can be placed there",
            f"advertise {leaked} only on the GPU worker group",
            evidence={"advertised": advertised(g), "leaked": leaked},
        )
