"""A model of where kube-scheduler can put each pod: its filter plugins and a scoring tie-break.

Filters: NodeUnschedulable, NodeName, nodeSelector, required node affinity,
TaintToleration (NoSchedule/NoExecute), and NodeResourcesFit (cpu, memory, pods and
extended resources such as nvidia.com/gpu against allocatable minus what earlier
pods took). Among fitting nodes the least allocated wins (LeastAllocated), ties by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gpuconf.inputs.loader import LDict, get
from gpuconf.inputs.quantity import quantity
from gpuconf.model.dra import CANNOT_ALLOCATE, Allocation, DraDevice, PodClaims, allocate
from gpuconf.model.selectors import requirement_matches


@dataclass
class NodeModel:
    """A Kubernetes node of the pool."""

    name: str
    labels: dict[str, str]
    taints: list[dict[str, str]]
    allocatable: dict[str, Decimal]
    unschedulable: bool
    doc: LDict | None = None
    used: dict[str, Decimal] = field(default_factory=dict)
    # DRA: the devices ResourceSlices publish for this node, and those planned pods took.
    dra: list[DraDevice] = field(default_factory=list)
    dra_taken: set[str] = field(default_factory=set)
    # What each pod bound here got from DRA, in binding order (the last is the latest pod's).
    dra_allocations: list[Allocation | None] = field(default_factory=list)

    def free(self, resource: str) -> Decimal:
        """Allocatable minus what planned pods requested."""
        return self.allocatable.get(resource, Decimal(0)) - self.used.get(resource, Decimal(0))


def node_from_doc(doc: LDict) -> NodeModel:
    """Build a NodeModel from a Node object (allocatable falls back to capacity)."""
    status = doc.get("status") or {}
    alloc_raw = status.get("allocatable") or status.get("capacity") or {}
    alloc = {str(k): quantity(v, None, f"allocatable.{k}") for k, v in alloc_raw.items()}
    alloc.setdefault("pods", Decimal(110))
    return NodeModel(
        name=str(doc["metadata"]["name"]),
        labels={str(k): str(v) for k, v in (get(doc, "metadata", "labels", default={}) or {}).items()},
        taints=[dict(t) for t in get(doc, "spec", "taints", default=[]) or []],
        allocatable=alloc,
        unschedulable=bool(get(doc, "spec", "unschedulable", default=False)),
        doc=doc,
    )


@dataclass
class PodSpecView:
    """What the scheduler looks at in a pod."""

    node_selector: dict[str, str]
    affinity_terms: list[list[dict[str, Any]]]
    tolerations: list[dict[str, Any]]
    requests: dict[str, Decimal]
    node_name: str | None = None
    # DRA claims, and the DeviceClasses by the extended resource they serve (gpuconf.model.dra).
    claims: PodClaims | None = None
    ext_classes: dict[str, LDict] = field(default_factory=dict)


def dra_allocation(pod: PodSpecView, node: NodeModel) -> Allocation | None:
    """The DRA devices the pod gets on the node; an empty allocation when it asks for none, None when it cannot have them.

    An extended resource the node's allocatable lacks goes to DRA when a DeviceClass serves it.
    """
    ext = {
        r: a
        for r, a in pod.requests.items()
        if a > 0 and r in pod.ext_classes and node.allocatable.get(r, Decimal(0)) == 0
    }
    if not ext and not (pod.claims and pod.claims.requests):
        return Allocation([], [])
    return allocate(pod.claims, ext, node.dra, node.dra_taken, pod.ext_classes)


def pod_view(template: LDict, requests: dict[str, Decimal]) -> PodSpecView:
    """The scheduling-relevant parts of a pod template."""
    spec = template.get("spec") or {}
    terms = (
        get(
            spec,
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
            default=[],
        )
        or []
    )
    return PodSpecView(
        node_selector={str(k): str(v) for k, v in (spec.get("nodeSelector") or {}).items()},
        affinity_terms=[
            list(t.get("matchExpressions") or []) + [dict(e, field=True) for e in t.get("matchFields") or []]
            for t in terms
        ],
        tolerations=[dict(t) for t in spec.get("tolerations") or []],
        requests=dict(requests),
        node_name=spec.get("nodeName"),
    )


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    """Kubernetes' toleration matching for one taint."""
    for t in tolerations:
        effect = t.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        op = t.get("operator") or "Equal"
        key = t.get("key") or ""
        if op == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and str(t.get("value") or "") == str(taint.get("value") or ""):
            return True
    return False


def _match_expr(expr: dict[str, Any], node: NodeModel) -> bool:
    return requirement_matches(expr, node.name, node.labels)


def misfit_reasons(pod: PodSpecView, node: NodeModel) -> list[str]:
    """Why the pod cannot go to this node, in the scheduler's own words; empty when it fits.

    Like kube-scheduler, filters run in the default profile's order and the first
    failing one decides: NodeUnschedulable, NodeName, TaintToleration,
    NodeAffinity, NodeResourcesFit (which lists every resource that is short).
    """
    unschedulable_taint = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    if node.unschedulable and not tolerates(pod.tolerations, unschedulable_taint):
        return ["node(s) were unschedulable"]
    if pod.node_name and pod.node_name != node.name:
        return ["node(s) didn't match the requested node name"]
    for taint in node.taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod.tolerations, taint):
            return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"]
    if any(node.labels.get(k) != v for k, v in pod.node_selector.items()) or (
        pod.affinity_terms and not any(term and all(_match_expr(e, node) for e in term) for term in pod.affinity_terms)
    ):
        return ["node(s) didn't match Pod's node affinity/selector"]
    reasons = []
    if node.free("pods") < 1:
        reasons.append("Too many pods")
    for res, amount in sorted(pod.requests.items()):
        served_by_dra = res in pod.ext_classes and node.allocatable.get(res, Decimal(0)) == 0
        if amount > 0 and node.free(res) < amount and not served_by_dra:
            reasons.append(f"Insufficient {res}")
    if not reasons and dra_allocation(pod, node) is None:
        reasons.append(CANNOT_ALLOCATE)
    return reasons


def choose_node(pod: PodSpecView, nodes: list[NodeModel]) -> tuple[NodeModel | None, dict[str, list[str]]]:
    """The node the scheduler would bind the pod to, and why each other node was filtered out."""
    reasons = {n.name: misfit_reasons(pod, n) for n in nodes}
    fitting = [n for n in nodes if not reasons[n.name]]
    if not fitting:
        return None, reasons

    def allocated_after(n: NodeModel) -> float:
        fractions = []
        for res in ("cpu", "memory"):
            alloc = n.allocatable.get(res, Decimal(0))
            if alloc > 0:
                fractions.append(float((n.used.get(res, Decimal(0)) + pod.requests.get(res, Decimal(0))) / alloc))
        return sum(fractions) / len(fractions) if fractions else 0.0

    best = min(fitting, key=lambda n: (allocated_after(n), n.name))
    for res, amount in pod.requests.items():
        best.used[res] = best.used.get(res, Decimal(0)) + amount
    taken = dra_allocation(pod, best)
    best.dra_taken.update(d.key for d in (taken.devices if taken else []))
    best.dra_allocations.append(taken)
    best.used["pods"] = best.used.get("pods", Decimal(0)) + 1
    return best, reasons


def unschedulable_message(reasons: dict[str, list[str]]) -> str:
    """The scheduler's FailedScheduling summary: `0/2 nodes are available: ...`."""
    counts: dict[str, int] = {}
    for rs in reasons.values():
        for r in rs:
            counts[r] = counts.get(r, 0) + 1
    parts = ", ".join(sorted(f"{c} {r}" for r, c in counts.items()))
    return f"0/{len(reasons)} nodes are available: {parts}."
