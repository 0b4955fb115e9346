"""Rules on how Ray's autoscaler reads the groups it scales."""

from __future__ import annotations

from collections.abc import Iterator

from gpuconf.inputs.loader import get
from gpuconf.model.plan import Plan
from gpuconf.static.catalogue import ERROR, Finding, rule
from gpuconf.static.rules.common import at_group, cluster_spec, node_offer


@rule(
    "AUTOSCALER-MISMATCH",
    ERROR,
    "Ray's autoscaler reads a group's resources differently from the Ray node KubeRay starts",
)
def _autoscaler_mismatch(plan: Plan) -> Iterator[Finding]:
    """With enableInTreeAutoscaling the autoscaler scales by its own reading of the spec (gpuconf.model.autoscaler)."""
    from gpuconf.model.autoscaler import disagreements, node_type
    from gpuconf.model.kuberay import autoscaler_enabled

    spec = cluster_spec(plan)
    if not autoscaler_enabled(spec):
        return
    for g in plan.groups:
        if g.start.error:
            continue  # the pod never joins: RAY-START or SHELL-SPLIT says why
        raw = get(spec, *g.path, default={}) or {}
        auto = node_type(raw, g.is_head)
        node = next((n for n in plan.ray_nodes if n.group is g), None)
        have = dict(node.resources) if node else node_offer(g)
        have.setdefault("CPU", 0.0)
        if g.dra is not None and g.dra.gpu_claims and "num-gpus" not in g.params:
            have.pop("GPU", None)  # DRA GPUs the autoscaler cannot see: AUTOSCALER-DRA-GPUS says so
        problems = disagreements(auto, have, "memory" in g.start.options)
        if not problems:
            continue
        yield Finding(
            at_group(plan, g, "rayStartParams"),
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
