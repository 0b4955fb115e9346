"""Model fidelity: does our plan say what the real scheduler and the real KubeRay operator did?

Compares, per group, the number of pods and where they went (or that they stayed Pending,
and why), and per pod the `ray start` command KubeRay generated against the one our model
predicts: options (ports aside), resources, labels and whether `ray start` must fail.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gpuconf.backends.kwok.dra import real_allocations
from gpuconf.kube.objects import NodeInfo, PodInfo
from gpuconf.model.kuberay import GroupModel, cluster_groups
from gpuconf.model.plan import Plan
from gpuconf.model.raystart import RayStartArgs, parse_ray_start
from gpuconf.model.shell import bash_words

# Ports differ by design: the model cannot know what a user leaves to Ray, and the kwok
# backend remaps them anyway. Compared: every other option.
_PORT = re.compile(r"(^|-)port$")
_AVAILABLE = re.compile(r"^0/(\d+) nodes are available:\s*")
# kube-scheduler >= 1.33 no longer names the taint ("node(s) had untolerated taint(s)"); the
# model keeps the older, more useful `{key: value}` wording, so it is compared as the new one.
_MODEL_WORDING = [(re.compile(r"node\(s\) had untolerated taint \{[^}]*\}"), "node(s) had untolerated taint(s)")]


@dataclass(frozen=True)
class Mismatch:
    """One field where the model and the real control plane disagree."""

    field: str
    model: Any
    real: Any

    def __str__(self) -> str:
        return f"{self.field}: model {self.model!r} != real {self.real!r}"


@dataclass
class Fidelity:
    """The mismatches, and the differences accepted (with why)."""

    mismatches: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def reason_parts(message: str | None) -> list[str]:
    """A FailedScheduling message as sorted reason parts: `0/N`, then `count reason` each.

    Only the filter summary counts: what follows its closing `. ` (the PostFilter part, e.g.
    `no new claims to deallocate, preemption: ...`) is dropped — our model has no preemption.
    """
    text = (message or "").strip()
    text = text.split(" preemption:", 1)[0]
    text = text.split(". ", 1)[0].strip().rstrip(".")
    for pattern, wording in _MODEL_WORDING:
        text = pattern.sub(wording, text)
    match = _AVAILABLE.match(text)
    head = [f"0/{match.group(1)}"] if match else []
    body = text[match.end() :] if match else text
    return head + sorted(p.strip().rstrip(".") for p in body.split(", ") if p.strip())


def real_start(pod: PodInfo) -> RayStartArgs:
    """What `bash -c` and `ray start` make of the pod's real KUBERAY_GEN_RAY_START_CMD."""
    cmd = pod.ray_start_cmd or ""
    try:
        return parse_ray_start(bash_words(cmd))
    except ValueError as exc:
        return RayStartArgs(argv=cmd.split(), error=f"bash: cannot parse the generated command ({exc})")


def _comparable_options(start: RayStartArgs, with_address: bool) -> dict[str, str]:
    return {k: v for k, v in start.options.items() if not _PORT.search(k) and (with_address or k != "address")}


def _safe(call: Any) -> Any:
    try:
        return call()
    except Exception as exc:  # a --resources ray cannot parse is what `error` reports
        return f"<unparseable: {exc}>"


def compare_start(prefix: str, model: RayStartArgs, real: RayStartArgs, with_address: bool) -> list[Mismatch]:
    """The Ray node a pod's command makes, model vs real."""
    out = []
    if (model.error is None) != (real.error is None):
        out.append(Mismatch(f"{prefix}.ray_start.error", model.error, real.error))
    pairs = [
        ("flags", sorted(model.flags), sorted(real.flags)),
        ("options", _comparable_options(model, with_address), _comparable_options(real, with_address)),
        ("resources", _safe(model.resources), _safe(real.resources)),
        ("labels", _safe(model.labels), _safe(real.labels)),
    ]
    for name, m, r in pairs:
        if m != r:
            out.append(Mismatch(f"{prefix}.ray_start.{name}", m, r))
    return out


def compare_report(
    plan: Plan,
    real_pods: list[PodInfo],
    real_nodes: list[NodeInfo],
    namespace: str | None = None,
    claims: list[dict[str, Any]] | None = None,
) -> Fidelity:
    """Compare the plan with the pods and nodes read from the API server.

    With `namespace`, the model's commands are rebuilt for that namespace, so the workers'
    `--address` (the head service's FQDN) is compared too; without it, `--address` is skipped.
    With `claims` (the namespace's ResourceClaims), the devices the scheduler allocated to each
    group's pods are compared with the model's DRA allocation (see compare_allocations).
    """
    report = Fidelity()
    cluster = plan.target.cluster
    groups: list[GroupModel] = cluster_groups(cluster.spec, cluster.name, namespace) if namespace else plan.groups
    node_names = {n.name for n in real_nodes}
    for group, modelled in zip(groups, plan.groups, strict=False):
        label = group.label
        # Autoscaled pods are what the autoscaler could add: the operator makes none until it asks.
        model_pods = [p for p in plan.pods if p.group is modelled and not p.autoscaled]
        real = [p for p in real_pods if p.group == label]
        if len(model_pods) != len(real):
            report.mismatches.append(Mismatch(f"{label}.pod_count", len(model_pods), len(real)))
        _compare_scheduling(plan, label, modelled, model_pods, real, node_names, report)
        for pod in real:
            report.mismatches += compare_start(
                f"{label}/{pod.name}", group.start, real_start(pod), namespace is not None
            )
    extra = sorted({p.group for p in real_pods} - {g.label for g in groups})
    if extra:
        report.mismatches.append(Mismatch("groups", sorted(g.label for g in groups), extra))
    if claims is not None:
        report.mismatches += compare_allocations(plan, real_pods, claims)
    return report


def compare_allocations(plan: Plan, real_pods: list[PodInfo], claims: list[dict[str, Any]]) -> list[Mismatch]:
    """Per group with DRA claims: the (node, claim, devices) of its pods, model vs what the scheduler allocated.

    Pod names differ (KubeRay adds a random suffix), so each group's pods are compared as a multiset;
    a Pending pod's claims are compared as unallocated.
    """
    real = real_allocations(claims)
    out = []
    for group in plan.groups:
        if group.dra is None:
            continue
        model: Counter[tuple[str | None, str, tuple[str, ...]]] = Counter()
        for p in plan.pods:
            if p.group is not group or p.autoscaled:
                continue
            by_claim = p.dra.by_claim if p.dra else {}
            for req in {r.claim for r in group.dra.requests}:
                model[(p.node, req, tuple(sorted(d.key for d in by_claim.get(req, []))))] += 1
        seen: Counter[tuple[str | None, str, tuple[str, ...]]] = Counter(
            (pod.node, name, keys)
            for pod in real_pods
            if pod.group == group.label
            for name, keys in real.get(pod.name, [])
        )
        if model != seen:
            out.append(
                Mismatch(
                    f"{group.label}.dra_allocation", sorted(model.elements(), key=str), sorted(seen.elements(), key=str)
                )
            )
    return out


def _compare_scheduling(
    plan: Plan,
    label: str,
    group: GroupModel,
    model_pods: list[Any],
    real: list[PodInfo],
    node_names: set[str],
    report: Fidelity,
) -> None:
    model_nodes = sorted(p.node for p in model_pods if p.node)
    real_nodes = sorted(p.node for p in real if p.node)
    if Counter(model_nodes) != Counter(real_nodes):
        feasible = plan.could_land_on(group)
        if len(model_nodes) == len(real_nodes) and len(feasible) > 1 and set(real_nodes) <= set(feasible):
            report.notes.append(
                f"{label}: model binds to {model_nodes}, the scheduler to {real_nodes}; "
                f"accepted: the model finds every one of {feasible} feasible"
            )
        else:
            report.mismatches.append(Mismatch(f"{label}.nodes", model_nodes, real_nodes))
    unknown = sorted(set(real_nodes) - node_names)
    if unknown:
        report.mismatches.append(Mismatch(f"{label}.nodes_known", sorted(node_names), unknown))
    model_pending = [p.pending_message for p in model_pods if p.node is None]
    real_pending = [p.failed_scheduling for p in real if p.node is None]
    if len(model_pending) != len(real_pending):
        report.mismatches.append(Mismatch(f"{label}.pending", model_pending, real_pending))
    for i, (m, r) in enumerate(zip(model_pending, real_pending, strict=False)):
        if reason_parts(m) != reason_parts(r):
            report.mismatches.append(Mismatch(f"{label}.pending[{i}].reason", reason_parts(m), reason_parts(r)))


# Tolerations the API server's default admission (DefaultTolerationSeconds) adds to every pod
# that lacks them; KubeRay and the model have nothing to do with them.
_DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


def _tolerations(raw: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    keys = ("key", "operator", "value", "effect", "tolerationSeconds")
    out = [{k: t[k] for k in keys if t.get(k) is not None} for t in raw or []]
    return sorted(out, key=lambda t: sorted((k, str(v)) for k, v in t.items()))


def _quantities(raw: dict[str, Any] | None) -> dict[str, Any]:
    from gpuconf.inputs.quantity import parse_quantity

    return {str(k): parse_quantity(v) for k, v in (raw or {}).items()}


def _container_resources(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    res = container.get("resources") or {}
    limits = _quantities(res.get("limits"))
    # API defaulting: an absent request of a resource with a limit is set to the limit.
    requests = {**limits, **_quantities(res.get("requests"))}
    return {"limits": limits, "requests": requests}


def compare_autoscaled(
    plan: Plan, added: list[dict[str, Any]], namespace: str, pending: dict[str, str] | None = None
) -> Fidelity:
    """Compare the pods the operator created at the autoscaler's request with the plan's autoscaled pods.

    `added` are the real pods (as plain dicts, the API's camelCase), in the order created. Per
    group, the first len(added) of the model's autoscaled pods are compared with them: the Ray
    container's limits and requests, the template's labels (KubeRay's own ray.io/* labels are
    checked for group and node type), tolerations (those the API server's default admission
    adds aside), nodeSelector, the node they were bound to (with `pending`, the FailedScheduling
    message of each pod left unbound, compared as reason parts), and the `ray start` command
    (``--address`` included: the model is rebuilt for `namespace`).
    """
    from gpuconf.model.admission import added_tolerations

    report = Fidelity()
    cluster = plan.target.cluster
    rebuilt = {g.label: g for g in cluster_groups(cluster.spec, cluster.name, namespace)}
    by_group: dict[str, list[dict[str, Any]]] = {}
    for pod in added:
        by_group.setdefault(str((pod["metadata"].get("labels") or {}).get("ray.io/group")), []).append(pod)
    for label, real_pods in sorted(by_group.items()):
        model_pods = [p for p in plan.pods if p.autoscaled and p.group.label == label]
        if len(real_pods) > len(model_pods):
            report.mismatches.append(Mismatch(f"{label}.autoscaled_count", len(model_pods), len(real_pods)))
        for model, real in zip(model_pods, real_pods, strict=False):
            group = model.group
            name = str(real["metadata"]["name"])
            prefix = f"{label}/{name}"
            template_spec = group.template.get("spec") or {}
            real_spec = real.get("spec") or {}
            pairs: list[tuple[str, Any, Any]] = [
                (
                    "resources",
                    _container_resources((template_spec.get("containers") or [{}])[0]),
                    _container_resources((real_spec.get("containers") or [{}])[0]),
                ),
                (
                    "nodeSelector",
                    dict(template_spec.get("nodeSelector") or {}),
                    dict(real_spec.get("nodeSelector") or {}),
                ),
            ]
            labels = real["metadata"].get("labels") or {}
            want_labels = {**group.pod_labels, "ray.io/group": label, "ray.io/node-type": "worker"}
            pairs.append(("labels", want_labels, {k: labels.get(k) for k in want_labels}))
            model_tol = list(template_spec.get("tolerations") or [])
            if plan.expectations.extended_resource_toleration:
                model_tol += added_tolerations(group.template)
            real_tol = [t for t in _tolerations(real_spec.get("tolerations")) if t not in _DEFAULT_TOLERATIONS]
            pairs.append(("tolerations", _tolerations(model_tol), real_tol))
            node = real_spec.get("nodeName")
            if node != model.node:
                feasible = plan.could_land_on(group)
                if node is None or model.node is None or node not in feasible:
                    pairs.append(("node", model.node, node))
                else:
                    report.notes.append(
                        f"{prefix}: model binds to {model.node}, the scheduler to {node}; accepted: both are feasible"
                    )
            if node is None and model.node is None and pending is not None:
                want, got = reason_parts(model.pending_message), reason_parts(pending.get(name))
                if want != got:
                    pairs.append(("pending.reason", want, got))
            for field_name, m, r in pairs:
                if m != r:
                    report.mismatches.append(Mismatch(f"{prefix}.{field_name}", m, r))
            container = (real_spec.get("containers") or [{}])[0]
            env = {e.get("name"): e.get("value") for e in container.get("env") or [] if "value" in e}
            cmd = env.get("KUBERAY_GEN_RAY_START_CMD") or ""
            try:
                real_args = parse_ray_start(bash_words(cmd))
            except ValueError as exc:
                real_args = RayStartArgs(argv=cmd.split(), error=f"bash: cannot parse the generated command ({exc})")
            report.mismatches += compare_start(prefix, rebuilt[label].start, real_args, True)
    return report
