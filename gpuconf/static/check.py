"""`gpuconf check`: the static tier, from paths to a verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuconf.inputs.limits import MAX_PODS, MAX_REPLICAS
from gpuconf.inputs.manifests import Inputs, Notice, load_roots
from gpuconf.inputs.rendered import HelmOptions
from gpuconf.model.plan import Plan, build_plan
from gpuconf.static.catalogue import ERROR, UNCHECKED, WARNING, Finding
from gpuconf.static.rules import CHECK_WITH, UNCHECKED_VERDICT, run_rules
from gpuconf.static.suppress import Suppressed, apply_suppressions

# The verdict of inputs that were all read but hold no cluster to plan (exit 0, said as such).
NOTHING_TO_CHECK = "nothing to check"


@dataclass
class CheckResult:
    """Plans and findings for every target found in the inputs.

    `findings` are the active ones (they make the verdict); `suppressed` those a suppression
    silenced, kept for the JSON and SARIF output.
    """

    plans: list[Plan]
    findings: list[Finding]
    notices: list[Notice] = field(default_factory=list)
    defaults_used: bool = False
    suppressed: list[Suppressed] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """`fail` when any finding is an error; else `unchecked` when something was not seen;
        `nothing to check` when no target was found (never a pass over nothing)."""
        if any(f.severity == ERROR for f in self.findings):
            return "fail"
        if self.unchecked:
            return UNCHECKED_VERDICT
        return "pass" if self.plans else NOTHING_TO_CHECK

    @property
    def unchecked(self) -> list[Finding]:
        """The findings on what the static tier could not see (apps defined in code, no Serve config)."""
        return [f for f in self.findings if f.severity == UNCHECKED]

    def count(self, severity: str) -> int:
        """How many findings have this severity."""
        return sum(1 for f in self.findings if f.severity == severity)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON contract."""
        return {
            "verdict": self.verdict,
            "findings": [{**f.as_json(), "suppressed": None} for f in self.findings]
            + [{**s.finding.as_json(), "suppressed": s.by.as_json()} for s in self.suppressed],
            # Active findings only: the counts make the verdict (a silenced one is marked in `findings`).
            "counts": {s: self.count(s) for s in (ERROR, WARNING, UNCHECKED)},
            "unchecked": [unchecked_row(f) for f in self.unchecked],
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


def unchecked_row(f: Finding) -> dict[str, Any]:
    """One unchecked app (`deployment` null) or deployment, and the ways to check it."""
    return {
        "target": f.target,
        "app": f.evidence.get("app"),
        "deployment": f.evidence.get("deployment"),
        "rule": f.rule,
        "file": f.loc.file if f.loc else None,
        "line": f.loc.line if f.loc else None,
        "reason": f.message,
        "check_with": [{"command": command, "what": what} for command, what in CHECK_WITH],
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
    helm: HelmOptions | None = None,
) -> CheckResult:
    """Load, plan and run every rule; raises InputError on bad input.

    `extended_resource_toleration` turns on that admission plugin's model whatever the expectations say.
    A path `-` is stdin; `helm` holds the values for the Helm charts among the paths.
    """
    from gpuconf.inputs.sizes import check_sizes

    plans: list[Plan] = []
    notices: list[Notice] = []
    defaults = False
    for inputs in load_roots(paths, nodes, expect, import_apps, helm):
        targets = inputs.targets()
        if extended_resource_toleration:
            for exp in inputs.expectations:
                exp.extended_resource_toleration = True
        for t in targets:
            check_sizes(t, MAX_PODS, MAX_REPLICAS)
        plans.extend(build_plan(inputs, t) for t in targets)
        notices.extend(_notices(inputs))
        defaults = defaults or inputs.defaults_used
    findings, suppressed, expired = apply_suppressions(plans, [f for p in plans for f in run_rules(p)])
    notices.extend(expired)
    notices.extend(_serve_notices())
    return CheckResult(plans, findings, notices, defaults, suppressed)


def _serve_notices() -> list[Notice]:
    """Once per run: Ray's own Serve validators could not run (Ray is not installed)."""
    from gpuconf.inputs.serve_validators import take_skipped

    skipped = take_skipped()
    if not skipped:
        return []
    return [
        Notice(
            None,
            f"Ray is not installed: {skipped} Serve config(s) checked against the shipped schema of Ray "
            "Serve's config only; Ray's own validators (import paths, route prefixes, autoscaling "
            "bounds) did not run. Install them with `pip install 'gpuconf[live]'` (Ray is pinned).",
        )
    ]


def _notices(inputs: Inputs) -> list[Notice]:
    return list(dict.fromkeys(inputs.notices))
