"""Validation of the node pool before it is modelled: Nodes, and the DRA inventory beside them.

A pool is what `kubectl get nodes,resourceslices,deviceclasses -o yaml` prints (a `kind: List`):
Nodes, ResourceSlices (the devices a DRA driver publishes per node) and DeviceClasses. A
Karpenter NodePool (or NodeClaim) describes nodes yet to exist and is skipped with a notice.

A malformed node is bad input (exit 2), not a conformance failure: the scheduler model would
otherwise plan pods onto nodes Kubernetes would never accept.
"""

from __future__ import annotations

from gpuconf.errors import ApiServerRefusal, InputError
from gpuconf.inputs.limits import MAX_QUANTITY
from gpuconf.inputs.loader import LDict, get, loc_of
from gpuconf.inputs.quantity import parse_quantity

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def validate_node_pool(nodes: list[LDict]) -> None:
    """Raise InputError (file:line, fix) on duplicate names, bad taints or bad quantities."""
    seen: dict[str, LDict] = {}
    for node in nodes:
        name = get(node, "metadata", "name")
        if name in seen:
            raise InputError(
                loc_of(node, "metadata", "name"),
                f"duplicate node name {name!r} (also at {seen[name].loc})",
                "give each Node a unique metadata.name, or pass each node pool once",
            )
        seen[name] = node
        validate_node(node)


def validate_node(node: LDict) -> None:
    """One Node's taints and capacity/allocatable quantities."""
    name = get(node, "metadata", "name")
    _taints(node)
    for which in ("capacity", "allocatable"):
        values = get(node, "status", which)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise InputError(
                loc_of(node, "status", which),
                f"status.{which} must be a mapping of quantities",
                'e.g. `cpu: "8"`, `memory: 32Gi`, `nvidia.com/gpu: "1"`',
            )
        for key, raw in values.items():
            check_quantity(node, ("status", which, key), raw, f"node {name}: status.{which}.{key}")


def check_quantity(root: LDict, path: tuple[object, ...], raw: object, what: str) -> None:
    """A resource quantity must parse, be finite, non-negative and at most MAX_QUANTITY."""
    loc = loc_of(root, *path)
    try:
        value = parse_quantity(raw)
    except ValueError as exc:
        raise ApiServerRefusal(
            loc, f"{what}: {raw!r} is not a Kubernetes quantity ({exc})", 'use a form like "2", "500m", "4Gi"'
        ) from None
    if value < 0:
        raise ApiServerRefusal(loc, f"{what}: {raw!r} is negative", "a resource quantity is 0 or more")
    if value > MAX_QUANTITY:
        raise ApiServerRefusal(
            loc,
            f"{what}: {raw!r} is over the limit of 2^60 (1Ei)",
            "correct the quantity (see docs/static-inputs.md, limits)",
        )


def _taints(node: LDict) -> None:
    taints = get(node, "spec", "taints")
    if taints is None:
        return
    if not isinstance(taints, list):
        raise ApiServerRefusal(
            loc_of(node, "spec", "taints"),
            "spec.taints must be a list",
            "e.g. `- {key: nvidia.com/gpu, effect: NoSchedule}`",
        )
    for i, taint in enumerate(taints):
        if not isinstance(taint, dict) or not isinstance(taint.get("key"), str) or not taint.get("key"):
            raise ApiServerRefusal(
                loc_of(node, "spec", "taints", i),
                "a taint needs a `key`",
                "e.g. `- {key: nvidia.com/gpu, effect: NoSchedule}`",
            )
        if taint.get("effect") not in TAINT_EFFECTS:
            raise ApiServerRefusal(
                loc_of(node, "spec", "taints", i, "effect"),
                f"taint effect {taint.get('effect')!r} is not one Kubernetes knows",
                f"use one of {', '.join(TAINT_EFFECTS)}",
            )


# What `kubectl get nodes,resourceslices,deviceclasses -o yaml` prints beside Nodes: the DRA
# inventory (resource.k8s.io/v1, GA in Kubernetes 1.34). ResourceClaimTemplates belong to the
# workload and are read beside the RayCluster.
DRA_API = "resource.k8s.io/v1"
DRA_INVENTORY_KINDS = ("ResourceSlice", "DeviceClass")
DRA_WORKLOAD_KINDS = ("ResourceClaimTemplate",)
# Node provisioners' objects that describe nodes yet to be made, not nodes: read as a notice.
PROVISIONER_KINDS = {
    ("karpenter.sh", "NodePool"),
    ("karpenter.sh", "NodeClaim"),
    ("karpenter.k8s.aws", "EC2NodeClass"),
    ("karpenter.azure.com", "AKSNodeClass"),
}


# The start of the notice for a skipped provisioner object (a case inherits it with the root's pool).
INVENTORY_NOTICE = "ignored "
