"""`gpuconf check`: the static tier, from paths to a verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuconf.inputs.limits import MAX_PODS, MAX_REPLICAS
from gpuconf.inputs.manifests import Inputs, Notice, load_roots
from gpuconf.model.plan import Plan, build_plan
from gpuconf.static import coverage  # noqa: F401  (registers SERVE-APP-UNSEEN)
from gpuconf.static.rules import ERROR, Finding, run_rules

# The verdict of inputs that were all read but hold no cluster to plan (exit 0, said as such).
NOTHING_TO_CHECK = "nothing to check"


@dataclass
class CheckResult:
    """Plans and findings for every target found in the inputs."""

    plans: list[Plan]
    findings: list[Finding]
    notices: list[Notice] = field(default_factory=list)
    defaults_used: bool = False

    @property
    def verdict(self) -> str:
        """`fail` when any finding is an error; `nothing to check` when no target was found (never a pass over nothing)."""
        if any(f.severity == ERROR for f in self.findings):
            return "fail"
        return "pass" if self.plans else NOTHING_TO_CHECK

    def as_json(self) -> dict[str, Any]:
        """The documented JSON contract."""
        return {
            "verdict": self.verdict,
            "findings": [f.as_json() for f in self.findings],
            "deployments": [deployment_row(p, d) for p in self.plans for d in p.deployments],
            "targets": [
                {
                    "target": p.target.name,
                    "file": p.target.cluster.loc.file,
                    "line": p.target.cluster.loc.line,
                    "serve_config": p.target.serve.given,
                }
                for p in self.plans
            ],
            "notices": [
                {"file": n.loc.file if n.loc else None, "line": n.loc.line if n.loc else None, "message": n.message}
                for n in self.notices
            ],
            "defaults_used": self.defaults_used,
        }


def deployment_row(plan: Plan, d: Any) -> dict[str, Any]:
    """One row of the deployments table."""
    exp = plan.expectations.gpu_deployment(d.demand.app, d.demand.deployment)
    return {
        "target": plan.target.name,
        "app": d.demand.app,
        "deployment": d.demand.deployment,
        "replicas": d.demand.num_replicas,
        "feasible_nodes": [
            {
                "ray_node": n,
                "k8s_node": plan.ray_node(n).k8s_node,
                "group": plan.ray_node(n).group.label,
                "gpu_node": plan.ray_node(n).is_gpu_node,
                "autoscaled": plan.ray_node(n).autoscaled,
            }
            for n in d.feasible
        ],
        "gpu": {
            "expected": exp is not None,
            "num_gpus": d.demand.num_gpus,
            "expected_per_replica": exp.gpus_per_replica if exp else 0.0,
        },
    }


def run_check(
    paths: list[Path],
    nodes: list[Path] | None = None,
    expect: Path | None = None,
    import_apps: Path | None = None,
    extended_resource_toleration: bool = False,
) -> CheckResult:
    """Load, plan and run every rule; raises InputError on bad input.

    `extended_resource_toleration` turns on that admission plugin's model whatever the expectations say.
    """
    from gpuconf.inputs.sizes import check_sizes

    plans: list[Plan] = []
    notices: list[Notice] = []
    defaults = False
    for inputs in load_roots(paths, nodes, expect, import_apps):
        targets = inputs.targets()
        if extended_resource_toleration:
            for exp in inputs.expectations:
                exp.extended_resource_toleration = True
        for t in targets:
            check_sizes(t, MAX_PODS, MAX_REPLICAS)
        plans.extend(build_plan(inputs, t) for t in targets)
        notices.extend(_notices(inputs))
        defaults = defaults or inputs.defaults_used
    findings = [f for p in plans for f in run_rules(p)]
    return CheckResult(plans, findings, notices, defaults)


def _notices(inputs: Inputs) -> list[Notice]:
    return list(dict.fromkeys(inputs.notices))
