"""`gpuconf check --fix`: apply each finding's fix to the manifests, comments and layout kept.

A fixer per rule id finds the YAML node to change from the finding's key path (and the plan the
rules ran on), and edits it through gpuconf.static.yamledit, so everything it does not touch is
written back as it was. Rules whose fix needs a human decision are listed in NO_FIX with the
reason, and their findings are reported, never silently skipped.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from gpuconf.model.kuberay import GroupModel
from gpuconf.model.plan import DeploymentPlan, Plan
from gpuconf.model.resources_json import intended_resources
from gpuconf.static.catalogue import UNCHECKED, Finding, Place
from gpuconf.static.rules.common import MARKER_SHARE, at_group, is_custom_resource, side_groups, side_markers
from gpuconf.static.yamledit import NotInFile, Workspace, at, sub

# Rules whose fix is a choice only the user can make (docs/static-inputs.md lists the same).
NO_FIX: dict[str, str] = {
    "RAY-START": "which value `ray start` should get for the rejected parameter is the user's choice",
    "REPLICA-MEMORY": "less memory per replica or more memory per worker is a sizing decision",
    "SERVE-UNPLACEABLE": "it follows from the other findings, or needs other ray_actor_options: fix those and check again",
    "SERVE-APP-UNSEEN": "the deployments' resources are set in code: declare them or use --import-apps",
    "SHELL-EXPANSION": "what the command or variable should have produced is known only to the user: write it literally",
    "AUTOSCALER-MISMATCH": "whether to round the value or move it to the group-level field is the user's choice",
}
# An unchecked finding (e.g. EXPECT-MISSING without a Serve config) is not a defect to edit away.
UNCHECKED_NO_FIX = "unchecked, not wrong: check it with --import-apps APP_DIR or the live tier"


class NoFix(Exception):
    """A finding this fixer cannot correct without a human decision; the message says why."""


@dataclass
class Outcome:
    """What --fix did (or could not do) for one finding."""

    finding: Finding
    done: str = ""
    no_fix: str = ""


# --- finding -> node ------------------------------------------------------------------------


def _group_node(ws: Workspace, plan: Plan, place: Place) -> tuple[GroupModel, CommentedMap]:
    """The group whose field the place names, and its mapping in the file."""
    for g in plan.groups:
        keys = (*plan.target.cluster.spec_path, *g.path)
        if place.keys[: len(keys)] == keys:
            return g, at(ws.mapping_at(place.root), keys)
    raise NoFix(f"{place.loc} is not inside a Ray group")


def _deployment_node(ws: Workspace, plan: Plan, place: Place) -> tuple[DeploymentPlan, CommentedMap]:
    """The deployment whose field the place names, and its mapping in the Serve config."""
    for d in plan.deployments:
        keys = tuple(d.demand.path)
        if keys and place.keys[: len(keys)] == keys:
            return d, at(ws.mapping_at(place.root), keys)
    raise NoFix(f"{place.loc} is not inside a deployment of the Serve config")


def _container(group: CommentedMap) -> CommentedMap:
    containers = group["template"]["spec"]["containers"]
    return containers[0]


def _resources_json(value: Any) -> dict[str, Any]:
    """rayStartParams.resources as the user meant it (gpuconf.model.resources_json.intended_resources)."""
    meant = intended_resources(str(value))
    if meant is None:
        raise NoFix(f"rayStartParams.resources {value!r} is not JSON")
    return meant


def _quoted_json(obj: dict[str, Any]) -> DoubleQuotedScalarString:
    """The form both KubeRay (trims the quotes, reads JSON) and `bash -c` (one word) read right."""
    return DoubleQuotedScalarString("'" + json.dumps(obj) + "'")


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


# --- the fixers -------------------------------------------------------------------------------


def _fix_shell_split(ws: Workspace, plan: Plan, f: Finding) -> str:
    _, group = _group_node(ws, plan, f.at)
    params = group["rayStartParams"]
    key = next((k for k, v in params.items() if str(v) == f.evidence.get("value")), None)
    if key is None:
        raise NoFix("the value named by the finding is no longer there")
    value = str(params[key])
    try:
        params[key] = (
            _quoted_json(_resources_json(value)) if key == "resources" or value.lstrip().startswith("{") else None
        )
    except NoFix:
        params[key] = None
    if params[key] is None:
        if "'" in value:
            raise NoFix(f"{key} holds a single quote, so it cannot be single-quoted for bash") from None
        params[key] = DoubleQuotedScalarString(f"'{value}'")
    return f"rayStartParams.{key}: {params[key]}"


def _fix_kuberay_json(ws: Workspace, plan: Plan, f: Finding) -> str:
    _, group = _group_node(ws, plan, f.at)
    group["rayStartParams"]["resources"] = _quoted_json(_resources_json(group["rayStartParams"]["resources"]))
    return f"rayStartParams.resources: {group['rayStartParams']['resources']}"


def _fix_unschedulable(ws: Workspace, plan: Plan, f: Finding) -> str:
    g, group = _group_node(ws, plan, f.at)
    from gpuconf.model.scheduler import tolerates

    spec = group["template"]["spec"]
    selector = dict(spec.get("nodeSelector") or {})
    exp = plan.expectations
    wants_gpu = g.gpu_limit(exp.is_gpu_resource) > 0
    intended = [
        n
        for n in plan.nodes
        if all(n.labels.get(k) == str(v) for k, v in selector.items())
        and (not wants_gpu or exp.gpus(n.allocatable) > 0)
    ]
    tolerations = list(spec.get("tolerations") or [])
    missing = [
        t
        for n in intended
        for t in n.taints
        if t.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, t)
    ]
    if not missing:
        raise NoFix("no untolerated taint keeps it off its intended node: it lacks resources, a sizing decision")
    added = []
    for t in missing:
        tol = CommentedMap([("key", t["key"]), ("operator", "Exists"), ("effect", t["effect"])])
        if tol not in (spec.get("tolerations") or []):
            if not isinstance(spec.get("tolerations"), CommentedSeq):
                spec["tolerations"] = CommentedSeq()
            spec["tolerations"].append(tol)
            added.append(f"{t['key']} operator Exists effect {t['effect']}")
    return "tolerations: " + (", ".join(added) or "already added")


def _fix_head_gpu(ws: Workspace, plan: Plan, f: Finding) -> str:
    _, group = _group_node(ws, plan, f.at)
    sub(group, "rayStartParams")["num-gpus"] = DoubleQuotedScalarString("0")
    from gpuconf.inputs.resources import is_gpu_resource

    resources = _container(group).get("resources") or {}
    removed: list[str] = []
    for which in ("limits", "requests"):
        if isinstance(resources.get(which), CommentedMap):
            for name in [
                str(k) for k in resources[which] if is_gpu_resource(str(k)) or plan.expectations.is_gpu_resource(str(k))
            ]:
                resources[which].pop(name, None)
                removed.append(name)
    gone = ", ".join(sorted(set(removed))) or "no GPU limit"
    return f'rayStartParams.num-gpus: "0"; {gone} removed from the head container'


def _fix_group_no_gpu(ws: Workspace, plan: Plan, f: Finding) -> str:
    _, group = _group_node(ws, plan, f.at)
    res = plan.expectations.gpu_resource
    resources = sub(_container(group), "resources")
    sub(resources, "limits")[res] = 1
    if isinstance(resources.get("requests"), CommentedMap):
        resources["requests"][res] = 1
    return f"{res}: 1 in the container's limits and requests"


def _fix_leak_env(ws: Workspace, plan: Plan, f: Finding) -> str:
    _, group = _group_node(ws, plan, f.at)
    if str(f.evidence.get("from", "")).startswith("image"):
        # The image sets it: the pod's env wins over the image's, so say void there.
        container = _container(group)
        env = container.get("env")
        if not isinstance(env, CommentedSeq):
            container["env"] = env = CommentedSeq()
        env.append(CommentedMap([("name", "NVIDIA_VISIBLE_DEVICES"), ("value", "void")]))
        return "env NVIDIA_VISIBLE_DEVICES=void (the image sets it to all)"
    for c in group["template"]["spec"]["containers"]:
        env = c.get("env")
        if isinstance(env, CommentedSeq):
            for i in reversed(range(len(env))):
                if env[i].get("name") == "NVIDIA_VISIBLE_DEVICES" and env[i].get("value") == "all":
                    del env[i]
            if not env:
                del c["env"]
    return "NVIDIA_VISIBLE_DEVICES=all removed"


def _fix_group_selector(ws: Workspace, plan: Plan, f: Finding) -> str:
    _, group = _group_node(ws, plan, f.at)
    want = plan.expectations.gpu_node_selector
    if not want:
        raise NoFix("the expectations name no GPU node labels to require")
    selector = sub(group["template"]["spec"], "nodeSelector")
    for k, v in want.items():
        selector[k] = DoubleQuotedScalarString(v)
    return "nodeSelector: " + ", ".join(f'{k}: "{v}"' for k, v in want.items())


def _fix_marker_leak(ws: Workspace, plan: Plan, f: Finding) -> str:
    _, group = _group_node(ws, plan, f.at)
    params = group["rayStartParams"]
    advertised = _resources_json(params["resources"])
    leaked = [r for r in f.evidence.get("leaked", []) if r in advertised]
    for r in leaked:
        del advertised[r]
    if advertised:
        params["resources"] = _quoted_json(advertised)
    else:
        del params["resources"]
    return f"{leaked} no longer advertised here"


def _fix_unadvertised(ws: Workspace, plan: Plan, f: Finding) -> str:
    d, _ = _deployment_node(ws, plan, f.at)
    wanted = [r for r in d.demand.resources if is_custom_resource(r) and r not in set(f.evidence.get("advertised", []))]
    on_gpu = d.demand.num_gpus > 0 or plan.expectations.gpu_deployment(d.demand.app, d.demand.deployment)
    candidates = side_groups(plan, gpu=bool(on_gpu))
    if len(candidates) != 1:
        raise NoFix(f"{len(candidates)} groups could be the intended one: which should advertise it is a choice")
    g, group = _group_node(ws, plan, at_group(plan, candidates[0]))
    params = sub(group, "rayStartParams")
    current = _resources_json(params["resources"]) if "resources" in params else {}
    current.update({r: 1 for r in wanted})
    params["resources"] = _quoted_json(current)
    return f"group {g.label} advertises {wanted}: rayStartParams.resources: {params['resources']}"


def _steer(plan: Plan, opts: CommentedMap, to_gpu: bool) -> str:
    """Make a replica request a marker only the GPU (or only the CPU) groups advertise."""
    markers, elsewhere = side_markers(plan, gpu=to_gpu)
    if not markers:
        raise NoFix(f"no resource is advertised only by the {'GPU' if to_gpu else 'CPU'} worker groups")
    resources = sub(opts, "resources")
    dropped = [r for r in list(resources) if r in elsewhere]
    for r in dropped:
        del resources[r]
    if not any(r in resources for r in markers):
        resources[markers[0]] = MARKER_SHARE
    return f"resources: {dict(resources)}" + (f" (dropped {dropped})" if dropped else "")


def _fix_placement(ws: Workspace, plan: Plan, f: Finding) -> str:
    d, node = _deployment_node(ws, plan, f.at)
    opts = sub(node, "ray_actor_options")
    exp = plan.expectations.gpu_deployment(d.demand.app, d.demand.deployment)
    done = _steer(plan, opts, to_gpu=True)
    if exp and not opts.get("num_gpus"):
        opts["num_gpus"] = _number(exp.gpus_per_replica)
    return f"num_gpus: {opts.get('num_gpus')}; {done}"


def _fix_gpu_request(ws: Workspace, plan: Plan, f: Finding) -> str:
    d, node = _deployment_node(ws, plan, f.at)
    exp = plan.expectations.gpu_deployment(d.demand.app, d.demand.deployment)
    if exp is None:
        raise NoFix("the deployment is no longer an expected GPU deployment")
    sub(node, "ray_actor_options")["num_gpus"] = _number(exp.gpus_per_replica)
    return f"ray_actor_options.num_gpus: {exp.gpus_per_replica:g}"


def _fix_capacity(ws: Workspace, plan: Plan, f: Finding) -> str:
    d, node = _deployment_node(ws, plan, f.at)
    auto = node.get("autoscaling_config")
    if d.demand.min_replicas is not None and isinstance(auto, dict) and d.placed:
        # Serve's autoscaler keeps min_replicas: that floor, not num_replicas, is what does not fit.
        auto["min_replicas"] = len(d.placed)
        done = f"autoscaling_config.min_replicas: {len(d.placed)} (what fits)"
        if isinstance(auto.get("max_replicas"), int) and auto["max_replicas"] > len(d.placed):
            # A ceiling above what fits would only trade this error for SERVE-AUTOSCALING-MAX.
            auto["max_replicas"] = len(d.placed)
            done += f", max_replicas: {len(d.placed)}"
        return done
    if not isinstance(node.get("num_replicas"), int) or not d.placed:
        raise NoFix("num_replicas is not a fixed number, or no replica fits at all: more workers are a sizing decision")
    node["num_replicas"] = len(d.placed)
    return f"num_replicas: {len(d.placed)} (what fits)"


def _fix_autoscaling_max(ws: Workspace, plan: Plan, f: Finding) -> str:
    _, node = _deployment_node(ws, plan, f.at)
    ceiling = int(f.evidence["ceiling"])
    sub(node, "autoscaling_config")["max_replicas"] = ceiling
    return f"autoscaling_config.max_replicas: {ceiling} (the most the cluster can hold)"


def _fix_isolation(ws: Workspace, plan: Plan, f: Finding) -> str:
    _, node = _deployment_node(ws, plan, f.at)
    return _steer(plan, sub(node, "ray_actor_options"), to_gpu=False)


def _fix_pool(ws: Workspace, plan: Plan, f: Finding) -> str:
    exp = plan.expectations
    offered = sorted({r for names in f.evidence.get("offered_resources", {}).values() for r in names})
    if offered and exp.gpu_resources is not None:
        # The GPU nodes are labelled and hold GPUs under another name (a MIG slice, another vendor's):
        # the expectations' list is what is wrong.
        gpu_nodes = sub(ws.mapping_at(exp.loc), "gpuNodes")
        names = sorted(set(exp.gpu_resources) | set(offered))
        gpu_nodes.pop("gpuResource", None)
        gpu_nodes["gpuResources"] = CommentedSeq(names)
        return f"gpuNodes.gpuResources: {names}"
    gpu = [n for n in plan.nodes if exp.gpus(n.allocatable) > 0 and n.doc is not None]
    if not gpu or not exp.gpu_node_selector:
        raise NoFix(f"no node has allocatable {exp.gpu_resources_text()}: the device plugin must advertise them first")
    for n in gpu:
        labels = sub(sub(ws.mapping_at(n.doc.loc if n.doc else None), "metadata"), "labels")
        for k, v in exp.gpu_node_selector.items():
            labels[k] = DoubleQuotedScalarString(v)
    return (
        f"labelled {[n.name for n in gpu]} "
        + " ".join(f"{k}={v}" for k, v in exp.gpu_node_selector.items())
        + " (on the cluster: kubectl label node <name> ...)"
    )


def _fix_expect_missing(ws: Workspace, plan: Plan, f: Finding) -> str:
    keys = f.at.keys
    if keys[:1] != ("gpuDeployments",) or len(keys) < 2:
        raise NoFix("the finding is not on an entry of gpuDeployments")
    entry = at(ws.mapping_at(f.at.root), keys[:2])
    apps = sorted({d.demand.app for d in plan.deployments})
    app = str(entry.get("app"))
    if app not in apps:
        close = difflib.get_close_matches(app, apps, n=2, cutoff=0.75)
        if len(close) != 1:
            raise NoFix(f"no single app of the Serve config is close to {app!r}")
        app = close[0]
    names = sorted({d.demand.deployment for d in plan.deployments if d.demand.app == app})
    close = (
        [str(entry.get("deployment"))]
        if entry.get("deployment") in names
        else difflib.get_close_matches(str(entry.get("deployment")), names, n=2, cutoff=0.75)
    )
    if len(close) != 1:
        raise NoFix(f"no single deployment of app {app!r} is close to {entry.get('deployment')!r}")
    entry["app"], entry["deployment"] = app, close[0]
    return f"expectations name {app}/{close[0]}"


def _fix_shared_gpu(ws: Workspace, plan: Plan, f: Finding) -> str:
    """Pin each group holding shares to the pool's unshared GPU nodes (GFD's sharing-strategy label)."""
    from gpuconf.model.accelerators import GFD_SHARING
    from gpuconf.static.rules.gpuroads import unshared_gpu_nodes

    if not unshared_gpu_nodes(plan):
        raise NoFix(
            "no GPU node of the pool is unshared (nvidia.com/gpu.sharing-strategy: none): add one, or allow shares"
        )
    done = []
    for g in plan.groups:
        if g.label in f.evidence.get("groups", []):
            _, group = _group_node(ws, plan, at_group(plan, g, "template", "spec"))
            sub(group["template"]["spec"], "nodeSelector")[GFD_SHARING] = DoubleQuotedScalarString("none")
            done.append(g.label)
    return f'nodeSelector {GFD_SHARING}: "none" on group(s) {", ".join(done)}'


def _fix_shared_request(ws: Workspace, plan: Plan, f: Finding) -> str:
    """One share per pod: the limit (and request) of the shared resource set to 1."""
    _, group = _group_node(ws, plan, f.at)
    resources = sub(_container(group), "resources")
    names = [str(f.evidence.get("resource"))]
    for which in ("limits", "requests"):
        if isinstance(resources.get(which), CommentedMap):
            for name in names:
                if name in resources[which]:
                    resources[which][name] = 1
    return f"{', '.join(names)}: 1 in the container's limits and requests"


def _fix_autoscaler_dra(ws: Workspace, plan: Plan, f: Finding) -> str:
    """rayStartParams num-gpus: the GPUs a pod gets from its claims, so the autoscaler counts them."""
    n = f.evidence.get("gpus")
    if not n:
        raise NoFix(
            "how many GPUs a pod gets is decided at allocation (allocationMode All or firstAvailable): set num-gpus yourself"
        )
    _, group = _group_node(ws, plan, f.at)
    sub(group, "rayStartParams")["num-gpus"] = DoubleQuotedScalarString(str(n))
    return f'rayStartParams.num-gpus: "{n}"'


def _fix_gang(ws: Workspace, plan: Plan, f: Finding) -> str:
    """Lower each group whose pods fit no node to the pods that do, so the gang fits the pool."""
    unfit = set(f.evidence.get("unfit", []))
    done = []
    for g in plan.groups:
        pods = [p for p in plan.pods if p.group is g and p.gang_held]
        if g.is_head or not any(p.name in unfit for p in pods):
            continue
        fit = sum(1 for p in pods if p.name not in unfit) // max(g.hosts, 1)
        _, group = _group_node(ws, plan, at_group(plan, g, "groupName"))
        group["replicas"] = fit
        if int(group.get("minReplicas") or 0) > fit:
            group["minReplicas"] = fit
        done.append(f"{g.label}: replicas {fit}")
    if not done:
        raise NoFix("the head itself fits no node: the pool needs a node for it")
    return "; ".join(done)


def _fix_gang_queue(ws: Workspace, plan: Plan, f: Finding) -> str:
    """The queue label the expectations name, on the Ray object's metadata."""
    batch = plan.batch
    if batch is None or batch.queue_label is None:
        raise NoFix("no batch scheduler")
    if not plan.expectations.batch_queue:
        raise NoFix(
            "which queue the cluster belongs to is yours to say: name it in the expectations' batchScheduler.queue"
        )
    labels = sub(sub(ws.mapping_at(f.at.root), "metadata"), "labels")
    labels[batch.queue_label] = plan.expectations.batch_queue
    return f"metadata.labels {batch.queue_label}: {plan.expectations.batch_queue}"


FIXERS: dict[str, Callable[[Workspace, Plan, Finding], str]] = {
    "SHELL-SPLIT": _fix_shell_split,
    "KUBERAY-RESOURCES-JSON": _fix_kuberay_json,
    "POD-UNSCHEDULABLE": _fix_unschedulable,
    "HEAD-GPU": _fix_head_gpu,
    "GPU-GROUP-NO-GPU": _fix_group_no_gpu,
    "GPU-LEAK-ENV": _fix_leak_env,
    "GPU-GROUP-SELECTOR": _fix_group_selector,
    "GPU-MARKER-LEAK": _fix_marker_leak,
    "RESOURCE-UNADVERTISED": _fix_unadvertised,
    "GPU-PLACEMENT": _fix_placement,
    "GPU-REQUEST": _fix_gpu_request,
    "GPU-CAPACITY": _fix_capacity,
    "SERVE-AUTOSCALING-MAX": _fix_autoscaling_max,
    "REPLICA-CAPACITY": _fix_capacity,
    "ISOLATION-ZERO-GPU": _fix_isolation,
    "NODEPOOL-NO-GPU": _fix_pool,
    "EXPECT-MISSING": _fix_expect_missing,
    "SHARED-GPU": _fix_shared_gpu,
    "SHARED-GPU-REQUEST": _fix_shared_request,
    "AUTOSCALER-DRA-GPUS": _fix_autoscaler_dra,
    "GANG-UNPLACEABLE": _fix_gang,
    "GANG-QUEUE": _fix_gang_queue,
}


@dataclass
class FixRun:
    """The outcome of fixing a check's findings: per finding, and the files' new texts."""

    outcomes: list[Outcome]
    before: dict[str, str]
    after: dict[str, str]

    @property
    def changed(self) -> list[str]:
        """Files whose text the fixes changed."""
        return [p for p in self.after if self.after[p] != self.before[p]]

    def diff(self) -> str:
        """A unified diff of every changed file."""
        return "".join(
            "".join(
                difflib.unified_diff(
                    self.before[p].splitlines(True),
                    self.after[p].splitlines(True),
                    "a/" + p.lstrip("/"),
                    "b/" + p.lstrip("/"),
                )
            )
            for p in self.changed
        )

    def write(self) -> None:
        """Write the changed files in place."""
        for p in self.changed:
            Path(p).write_text(self.after[p], encoding="utf-8")


def fix_findings(plans: list[Plan], findings: list[Finding], rules: set[str] | None = None) -> FixRun:
    """Apply the fix of each finding (of `rules`, default all) to an in-memory copy of its files."""
    ws = Workspace()
    outcomes: list[Outcome] = []
    seen: set[tuple[str, str]] = set()
    for f in findings:
        if (rules is not None and f.rule not in rules) or (f.rule, str(f.loc)) in seen:
            continue  # one finding per place (several targets can share an expectations file)
        seen.add((f.rule, str(f.loc)))
        plan = next(p for p in plans if p.target.name == f.target)
        if f.rule in NO_FIX:
            outcomes.append(Outcome(f, no_fix=NO_FIX[f.rule]))
        elif f.severity == UNCHECKED:  # nothing wrong was seen, so there is nothing to change
            outcomes.append(Outcome(f, no_fix=UNCHECKED_NO_FIX))
        elif f.rule not in FIXERS:
            outcomes.append(Outcome(f, no_fix="this rule has no fixer yet"))
        else:
            try:
                outcomes.append(Outcome(f, done=FIXERS[f.rule](ws, plan, f)))
            except (NoFix, NotInFile) as exc:
                outcomes.append(Outcome(f, no_fix=str(exc)))
    after = ws.rendered()
    return FixRun(outcomes, dict(ws.texts), after)


def render_outcomes(run: FixRun) -> str:
    """One line per finding: what was changed, or `no automatic fix: <why>`."""
    lines = []
    for o in run.outcomes:
        where = f"{o.finding.loc}: [{o.finding.rule}]"
        lines.append(f"{where} fixed: {o.done}" if o.done else f"{where} no automatic fix: {o.no_fix}")
    return "\n".join(lines)


def outcomes_json(run: FixRun) -> dict[str, list[dict[str, Any]]]:
    """The JSON of a fix run: `fixed` (what changed) and `not_fixed` (why not), one entry per finding."""

    def place(o: Outcome) -> dict[str, Any]:
        # The finding's own JSON contract, cut to where it is.
        doc = o.finding.as_json()
        return {k: doc[k] for k in ("rule", "severity", "file", "line", "target")}

    return {
        "fixed": [{**place(o), "change": o.done} for o in run.outcomes if o.done],
        "not_fixed": [{**place(o), "reason": o.no_fix} for o in run.outcomes if not o.done],
    }
