"""The rule catalogue: checks over the plan and the expectations, each with a stable id.

Every finding names the manifest line to change, what was seen, and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from gpuconf.errors import Loc
from gpuconf.inputs.loader import get, loc_of
from gpuconf.inputs.resources import gpu_amount, is_nvidia_gpu
from gpuconf.model.kuberay import GroupModel, group_loc
from gpuconf.model.plan import DeploymentPlan, Plan
from gpuconf.model.resources_json import ResourcesJsonError, intended_resources, ray_start_resources
from gpuconf.model.scheduler import unschedulable_message
from gpuconf.model.shell import bash_words

# The registry lives in gpuconf.static.catalogue; this module imports every rule, so the whole
# catalogue and its runner are read from here.
from gpuconf.static.catalogue import CATALOGUE as CATALOGUE
from gpuconf.static.catalogue import ERROR, UNCHECKED, WARNING, Finding, rule
from gpuconf.static.catalogue import run_rules as run_rules

# A run with UNCHECKED findings (gpuconf.static.catalogue) and no error has this verdict (exit 4).
UNCHECKED_VERDICT = "unchecked"
# The two ways to check what was left unchecked: (command, what it does).
CHECK_WITH: tuple[tuple[str, str], ...] = (
    (
        "gpuconf check --import-apps APP_DIR PATH...",
        "with the Serve config among the paths: imports the app's code the way `serve build` does "
        "and checks the deployments it defines",
    ),
    ("make conformance MANIFESTS=DIR", "the live tier: deploys the app and checks the options as deployed"),
)
_BUILTIN = {"CPU", "GPU", "memory"}


def _spec(plan: Plan) -> Any:
    return plan.target.cluster.spec


def _gpu_markers(plan: Plan) -> set[str]:
    """Custom resources that expected-GPU deployments request and a GPU-node group advertises."""
    requested = {
        r
        for d in plan.gpu_deployment_demands()
        for r in d.resources
        if r not in _BUILTIN and not r.startswith("accelerator_type:")
    }
    on_gpu = {
        r for g in plan.groups if not g.is_head and _gpu_only_nodes(plan, plan.could_land_on(g)) for r in _intended(g)
    }
    return requested & on_gpu


def _advertised(group: GroupModel) -> dict[str, float]:
    return group.start.custom_resources() if group.start.error is None else {}


def _intended(group: GroupModel) -> dict[str, float]:
    """The custom resources the group means to advertise, even where the shell breaks the value."""
    advertised = _advertised(group)
    if advertised or "resources" not in group.params:
        return advertised
    parsed = intended_resources(group.params["resources"]) or {}
    return {str(k): float(v) for k, v in parsed.items() if isinstance(v, (int, float))}


def _gpu_only_nodes(plan: Plan, nodes: list[str]) -> bool:
    return bool(nodes) and all(plan.is_gpu_node(n) for n in nodes)


@rule("SHELL-SPLIT", ERROR, "a rayStartParams value that KubeRay's `bash -c` splits or unquotes into something else")
def _shell_split(plan: Plan) -> Iterator[Finding]:
    for g in plan.groups:
        for key, value in g.params.items():
            try:
                # A sentinel after the value shows whether bash swallowed the rest (a `#` comment).
                words = bash_words(f"--{key}={value} --gpuconf-sentinel")
            except ValueError as exc:
                words, note = [], f"bash cannot parse it ({exc})"
            else:
                note = ""
                if words[-1:] != ["--gpuconf-sentinel"]:
                    note = f"bash reads `#` in `--{key}={value}` as a comment: every later parameter is lost"
                words = words[:-1]
            after = words[0][len(key) + 3 :] if len(words) == 1 else None
            broken_json = key == "resources" and after is not None and not _is_json_object(after)
            if len(words) == 1 and not broken_json and not note:
                continue
            seen = note or (
                f"bash -c splits `--{key}={value}` into {len(words)} arguments {words}"
                if len(words) != 1
                else f"after bash's quote removal ray start gets --{key}={after}, which is not JSON"
            )
            yield Finding(
                group_loc(_spec(plan), g, "rayStartParams", key),
                f"group {g.label}: rayStartParams.{key}: {seen}; `ray start` fails and the pod never joins the cluster",
                f"""quote the JSON for the shell in single quotes: {key}: "'{_json_escaped(after or value)}'"  """
                "(or, on KubeRay >= 1.5, use the group-level `resources:` field)",
                evidence={"value": value, "argv": words, "command": g.command.strip()},
            )


def _is_json_object(text: str) -> bool:
    try:
        ray_start_resources(text)
    except ResourcesJsonError:
        return False
    return True


def _json_escaped(text: str) -> str:
    meant = intended_resources(text)
    fallback = text if text.startswith("{") else '{"gpu_worker": 1}'
    canonical = json.dumps(meant) if meant is not None else fallback
    return canonical.replace('"', '\\"')


@rule("KUBERAY-RESOURCES-JSON", ERROR, "KubeRay cannot read rayStartParams.resources as JSON, so it drops --num-gpus")
def _kuberay_json(plan: Plan) -> Iterator[Finding]:
    from gpuconf.model.kuberay import kuberay_resources_json_error

    for g in plan.groups:
        problem = kuberay_resources_json_error(g.params)
        if problem is None or g.gpu_limit(_is_gpu) == 0 or "num-gpus" in g.params:
            continue
        res = ", ".join(sorted(k for k, v in g.container_limits.items() if _is_gpu(k) and v > 0))
        yield Finding(
            group_loc(_spec(plan), g, "rayStartParams", "resources"),
            f"group {g.label}: KubeRay trims quotes from rayStartParams.resources and parses it as JSON "
            f"before adding --num-gpus from the {res} limit; {problem}, so the generated `ray start` has "
            "no --num-gpus and Ray's GPU count falls back to whatever the container happens to see "
            "(0 on fake-GPU nodes such as kind)",
            """write it so that both KubeRay and bash read JSON: resources: "'{\\"gpu_worker\\": 1}'" """
            """(or set num-gpus: "1" explicitly)""",
            evidence={"value": g.params.get("resources"), "command": g.command.strip()},
        )


@rule("RAY-START", ERROR, "the generated `ray start` command fails for a reason other than shell splitting")
def _ray_start(plan: Plan) -> Iterator[Finding]:
    split = {(f.evidence.get("command")) for f in _shell_split(plan)}
    for g in plan.groups:
        if g.start.error and g.command.strip() not in split:
            yield Finding(
                group_loc(_spec(plan), g, "rayStartParams"),
                f"group {g.label}: {g.start.error}",
                g.start.refusal.fix if g.start.refusal else "fix the rayStartParams value named above",
                evidence={"command": g.command.strip()},
            )


@rule("POD-UNSCHEDULABLE", ERROR, "a Ray pod fits no node of the pool and stays Pending")
def _unschedulable(plan: Plan) -> Iterator[Finding]:
    for p in plan.pods:
        # A pod the autoscaler would add and cannot place only caps the scale-up (the plan says where).
        # A pod its batch scheduler holds although it fits is GANG-UNPLACEABLE's (or GANG-QUEUE's) to report.
        if p.node is None and not p.autoscaled and not (p.gang_held and any(not r for r in p.reasons.values())):
            note = ""
            if not plan.expectations.extended_resource_toleration and plan.could_land_on(p.group, admission=True):
                note = (
                    "; with the ExtendedResourceToleration admission plugin on (GKE runs it) the pod would get "
                    "a toleration for each extended resource it requests and fit "
                    f"{plan.could_land_on(p.group, admission=True)}: if your cluster runs it, set "
                    "admission.extendedResourceToleration: true in the expectations or pass "
                    "--extended-resource-toleration"
                )
            yield Finding(
                group_loc(_spec(plan), p.group, "template", "spec"),
                f"pod {p.name} (group {p.group.label}) stays Pending: {unschedulable_message(p.reasons)}{note}",
                "add the toleration/nodeSelector/resources that let it fit the intended node "
                "(for GPU nodes: tolerate their taint, e.g. key nvidia.com/gpu operator Exists)",
                evidence={"reasons": p.reasons},
            )


@rule("HEAD-GPU", ERROR, "the head group advertises GPUs")
def _head_gpu(plan: Plan) -> Iterator[Finding]:
    for g in plan.groups:
        if not g.is_head:
            continue
        explicit = g.start.resources().get("GPU", 0.0) if g.start.error is None else 0.0
        # KubeRay turns any limit its predicate accepts into --num-gpus, whatever the expectations list.
        limit = g.gpu_limit(lambda n: _is_gpu(n) or plan.expectations.is_gpu_resource(n))
        if explicit > 0 or limit > 0:
            where = (
                ("rayStartParams", "num-gpus")
                if "num-gpus" in g.params
                else ("template", "spec", "containers", 0, "resources")
            )
            yield Finding(
                group_loc(_spec(plan), g, *where),
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
            group_loc(_spec(plan), g, "template", "spec", "containers", 0, "resources"),
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
        return _gpu_only_nodes(plan, landing) if landing else g.gpu_limit(plan.expectations.is_gpu_resource) > 0
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
            group_loc(_spec(plan), g, *where),
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
            k for k, v in g.container_limits.items() if (_is_gpu(k) or plan.expectations.is_gpu_resource(k)) and v > 0
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
            group_loc(_spec(plan), g, "template", "spec"),
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
    markers = _gpu_markers(plan)
    for g in plan.groups:
        leaked = sorted(markers & set(_intended(g)))
        if not leaked:
            continue
        landing = plan.could_land_on(g)
        if not g.is_head and not [n for n in landing if not plan.is_gpu_node(n)]:
            continue
        where = "the head" if g.is_head else f"group {g.label} (can land on {landing})"
        yield Finding(
            group_loc(_spec(plan), g, "rayStartParams", "resources"),
            f"{where} advertises {leaked}, the resource GPU deployments request to reach GPU workers: "
            "a replica can be placed there",
            f"advertise {leaked} only on the GPU worker group",
            evidence={"advertised": _advertised(g), "leaked": leaked},
        )


@rule("RESOURCE-UNADVERTISED", ERROR, "a deployment requests a custom resource that no group advertises")
def _unadvertised(plan: Plan) -> Iterator[Finding]:
    offered = {r for g in plan.groups for r in _intended(g)}
    for d in plan.deployments:
        for res in sorted(d.demand.resources):
            if res in _BUILTIN or res.startswith("accelerator_type:") or res in offered:
                continue
            yield Finding(
                _opts_loc(plan, d, "resources", res),
                f"{d.demand.key} requests resource {res!r}, which no group advertises",
                f'advertise it on the intended group: rayStartParams resources: "\'{{\\"{res}\\": 1}}\'"',
                evidence={"advertised": sorted(offered)},
            )


def _opts_loc(plan: Plan, d: DeploymentPlan, *sub: Any) -> Loc | None:
    return loc_of(plan.target.serve.body, *d.demand.path, "ray_actor_options", *sub) or d.demand.loc


@rule("REPLICA-MEMORY", ERROR, "a replica asks for more memory than any node that could otherwise host it")
def _memory(plan: Plan) -> Iterator[Finding]:
    for d in plan.deployments:
        need = d.demand.resources.get("memory")
        if not need:
            continue
        others = [n for n, rs in d.misfits.items() if rs and all(r.startswith("memory:") for r in rs)]
        if others and not d.feasible:
            yield Finding(
                _opts_loc(plan, d, "memory"),
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
                _opts_loc(plan, d),
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
            _opts_loc(plan, d),
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
    offer = _offer(g)
    why = node_misfit(
        ReplicaDemand(d.demand.app, d.demand.deployment, 1, d.demand.resources, d.demand.label_selector, None, None),
        RayNodeView(g.label, offer, {"ray.io/node-group": g.label, **_labels(g)}),
    )
    return (
        f"{g.label} ({g.replicas} replica(s), {up} scheduled{auto}; offers {offer or 'nothing'}"
        + (f": {', '.join(why)}" if why else ": would fit")
        + ")"
    )


def _offer(g: GroupModel) -> dict[str, float]:
    if g.start.error:
        return {}
    res = g.start.resources()
    res.setdefault("GPU", float(sum(v for k, v in g.container_limits.items() if _is_gpu(k))))
    return {k: v for k, v in res.items() if v > 0}


def _labels(g: GroupModel) -> dict[str, str]:
    try:
        return g.start.labels()
    except ValueError:
        return {}


def _is_gpu(name: str) -> bool:
    from gpuconf.model.kuberay import is_gpu_resource

    return is_gpu_resource(name)


def _what_would_change(plan: Plan, d: DeploymentPlan) -> str:
    """Name the group(s) whose pods would host the deployment if they came up."""
    from gpuconf.model.raysched import RayNodeView, ReplicaDemand, node_misfit

    demand = ReplicaDemand(
        d.demand.app, d.demand.deployment, 1, d.demand.resources, d.demand.label_selector, None, None
    )
    fits = [
        g
        for g in plan.groups
        if not node_misfit(demand, RayNodeView(g.label, _offer(g), {"ray.io/node-group": g.label, **_labels(g)}))
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
            loc_of(plan.target.serve.body, *d.demand.path, "autoscaling_config", "max_replicas") or d.demand.loc,
            f"{d.demand.key}: autoscaling_config.max_replicas is {high}, but the cluster (with every "
            f"group at maxReplicas) holds at most {d.ceiling} replica(s): beyond that Serve's "
            "replicas stay PENDING",
            f"lower max_replicas to {d.ceiling}, or raise the workers' maxReplicas and the node pool",
            evidence={"max_replicas": high, "ceiling": d.ceiling},
        )


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
                _opts_loc(plan, d),
                f"{d.demand.key} must run on GPU nodes but fits Ray node(s) off them: {where}",
                "request num_gpus and a resource only the GPU worker group advertises "
                "(e.g. resources: {gpu_worker: 0.001}); drop head_node",
                evidence={"feasible": d.feasible, "off_gpu": off},
            )


@rule("GPU-REQUEST", ERROR, "a GPU deployment reserves a different number of GPUs than expected")
def _gpu_request(plan: Plan) -> Iterator[Finding]:
    for d in plan.deployments:
        exp = plan.expectations.gpu_deployment(d.demand.app, d.demand.deployment)
        if exp and abs(d.demand.num_gpus - exp.gpus_per_replica) > 1e-9:
            yield Finding(
                _opts_loc(plan, d, "num_gpus"),
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
                loc_of(plan.target.serve.body, *d.demand.path, *field) or d.demand.loc,
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
            _opts_loc(plan, d),
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
    cpu_groups = [
        g.label
        for g in plan.groups
        if not g.is_head and plan.could_land_on(g) and not any(plan.is_gpu_node(n) for n in plan.could_land_on(g))
    ]
    on_cpu = {r for g in plan.groups if g.label in cpu_groups for r in _intended(g)}
    elsewhere = {r for g in plan.groups if g.label not in cpu_groups for r in _intended(g)}
    only_cpu = sorted(on_cpu - elsewhere)
    if only_cpu:
        pin = f"request a resource only the CPU workers advertise, e.g. resources: {{{only_cpu[0]}: {_KEY_SHARE}}}"
    elif cpu_groups:
        pin = f"pin it to a CPU group with label_selector: {{ray.io/node-group: {cpu_groups[0]}}}"
    else:
        pin = "add a CPU worker group and pin it there (a resource or label_selector only that group matches)"
    return f"{pin}; or set RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO=1 in the GPU workers' env, so Ray blanks CUDA_VISIBLE_DEVICES for it"


_KEY_SHARE = 0.001


@rule("NODEPOOL-NO-GPU", ERROR, "no node of the pool is a GPU node with an allocatable GPU")
def _pool(plan: Plan) -> Iterator[Finding]:
    from gpuconf.model.accelerators import accelerator_kind, accelerators_in, describe

    exp = plan.expectations

    def dra_gpus(n: Any) -> int:
        return sum(1 for d in n.dra if d.is_gpu)

    if any(plan.is_gpu_node(n.name) and (exp.gpus(n.allocatable) > 0 or dra_gpus(n)) for n in plan.nodes):
        return
    # Say what the nodes do offer: a MIG slice or another vendor's device is not "no GPU".
    offered = {
        n.name: describe(n.allocatable)
        for n in plan.nodes
        if plan.is_gpu_node(n.name) and accelerators_in(n.allocatable)
    }
    others = {
        n.name: describe(n.allocatable) for n in plan.nodes if n.name not in offered and accelerators_in(n.allocatable)
    }
    seen = ""
    if offered:
        seen = (
            "; the GPU nodes offer "
            + "; ".join(f"{k}: {v}" for k, v in offered.items())
            + (
                ", which the expectations' gpuResource(s) exclude: list them in gpuNodes.gpuResources if they are the GPUs"
            )
        )
    elif others:
        seen = "; accelerators are on nodes without the GPU labels: " + "; ".join(
            f"{k}: {v}" for k, v in others.items()
        )
    yield Finding(
        exp.loc,
        f"no node carries {exp.gpu_node_selector} with allocatable {exp.gpu_resources_text()} "
        f"(or DRA GPU devices in a ResourceSlice){seen}",
        "label the GPU nodes (kubectl label node <name> "
        + " ".join(f"{k}={v}" for k, v in exp.gpu_node_selector.items())
        + ") and check the device plugin advertises the GPUs",
        evidence={
            "offered": offered,
            "elsewhere": others,
            # GPU resources (by Ray's count) on the labelled nodes, which the expectations could list.
            "offered_resources": {
                n.name: sorted(
                    r for r in accelerators_in(n.allocatable) if (k := accelerator_kind(r)) is not None and k.is_gpu
                )
                for n in plan.nodes
                if n.name in offered
            },
        },
    )


@rule(
    "EXPECT-MISSING",
    ERROR,
    "the expectations name a deployment the Serve config lacks (unchecked where no Serve config was given)",
)
def _expect_missing(plan: Plan) -> Iterator[Finding]:
    if not plan.target.serve.given:
        yield from _expect_unchecked(plan)
        return
    present = {(d.demand.app, d.demand.deployment) for d in plan.deployments}
    # An app listed without `deployments:` defines them in code: SERVE-APP-UNSEEN says so, and
    # "not in the Serve config" would be false.
    in_code = {
        str(a.get("name", "default"))
        for a in get(plan.target.serve.body, "applications", default=[]) or []
        if isinstance(a, dict) and not a.get("deployments")
    }
    for exp in plan.expectations.gpu_deployments:
        if (exp.app, exp.deployment) not in present and exp.app not in in_code:
            yield Finding(
                exp.loc,
                f"expected GPU deployment {exp.app}/{exp.deployment} is not in the Serve config",
                "fix the app/deployment names in expectations.yaml or add the deployment",
                evidence={},
            )


def _expect_unchecked(plan: Plan) -> Iterator[Finding]:
    """Without a Serve config the expected deployments were not seen: unchecked, not missing."""
    for exp in plan.expectations.gpu_deployments:
        yield Finding(
            exp.loc,
            f"expected GPU deployment {exp.app}/{exp.deployment} was not checked: no Serve config was given "
            f"for {plan.target.name}, so where its replicas land is unknown",
            "pass the Serve config among the paths (with --import-apps APP_DIR if its deployments are set "
            "in code), or check it live: make conformance MANIFESTS=DIR",
            evidence={"app": exp.app, "deployment": exp.deployment},
            severity=UNCHECKED,  # no Serve config given: the deployment was not seen, not found missing
        )


@rule(
    "AUTOSCALER-MISMATCH",
    ERROR,
    "Ray's autoscaler reads a group's resources differently from the Ray node KubeRay starts",
)
def _autoscaler_mismatch(plan: Plan) -> Iterator[Finding]:
    """With enableInTreeAutoscaling the autoscaler scales by its own reading of the spec (gpuconf.model.autoscaler)."""
    from gpuconf.model.autoscaler import disagreements, node_type
    from gpuconf.model.kuberay import autoscaler_enabled

    spec = _spec(plan)
    if not autoscaler_enabled(spec):
        return
    for g in plan.groups:
        if g.start.error:
            continue  # the pod never joins: RAY-START or SHELL-SPLIT says why
        raw = get(spec, *g.path, default={}) or {}
        auto = node_type(raw, g.is_head)
        node = next((n for n in plan.ray_nodes if n.group is g), None)
        have = dict(node.resources) if node else _offer(g)
        have.setdefault("CPU", 0.0)
        if g.dra is not None and g.dra.gpu_claims and "num-gpus" not in g.params:
            have.pop("GPU", None)  # DRA GPUs the autoscaler cannot see: AUTOSCALER-DRA-GPUS says so
        problems = disagreements(auto, have, "memory" in g.start.options)
        if not problems:
            continue
        yield Finding(
            group_loc(spec, g, "rayStartParams") or group_loc(spec, g),
            f"group {g.label}: Ray's autoscaler "
            + ("cannot read the group: " if auto.error else "and the Ray node disagree: ")
            + "; ".join(problems)
            + (
                "; it fails and no group scales"
                if auto.error
                else "; it adds pods for demand they cannot take, or none for demand they could"
            ),
            'write integers in num-cpus/num-gpus/memory, the JSON of `resources` as "\'{\\"name\\": 1}\'" '
            "with integer values (or use the group-level `resources:` field), and count MIG slices with "
            "an explicit num-gpus",
            evidence={"autoscaler": auto.resources, "ray_node": have, "error": auto.error},
        )


@rule("SHELL-EXPANSION", ERROR, "a rayStartParams value that KubeRay's `bash -c` expands ($(...), backticks, ${...})")
def _shell_expansion(plan: Plan) -> Iterator[Finding]:
    """KubeRay joins rayStartParams into one `bash -c` string, so bash runs command substitutions
    and expands parameters in the pod: Ray gets what the command printed, not what the model
    (or the manifest's reader) sees."""
    for g in plan.groups:
        for key, value in g.params.items():
            hits = [m for m in ("$(", "`", "${") if m in _unquoted_for_expansion(value)]
            if not hits:
                continue
            yield Finding(
                group_loc(_spec(plan), g, "rayStartParams", key),
                f"group {g.label}: rayStartParams.{key} {value!r} holds {' and '.join(hits)}, which bash -c "
                "runs or expands inside the pod before `ray start` sees it: Ray gets something other "
                "than what is written here (and what was checked)",
                "write the literal value; to compute it in the pod, set an env var in the container and "
                "keep rayStartParams literal (or single-quote the value so bash leaves it alone)",
                evidence={"value": value, "command": g.command.strip()},
            )


def _unquoted_for_expansion(value: str) -> str:
    """The value with single-quoted spans removed (bash expands nothing inside them)."""
    out, inside = [], False
    for ch in value:
        if ch == "'":
            inside = not inside
        elif not inside:
            out.append(ch)
    return "".join(out)


# Rules that live in their own modules register on import; importing them here keeps the catalogue whole.
# SERVE-APP-UNSEEN (coverage) comes last: the order of the catalogue is the order of `gpuconf catalogue`.
from gpuconf.static import gangs, gpuroads  # noqa: E402,F401

# isort: split
from gpuconf.static import coverage  # noqa: E402,F401
