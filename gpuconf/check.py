"""`gpuconf check`: the static tier, from paths to a verdict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconf.inputs import load_inputs
from gpuconf.plan import Plan, build_plan
from gpuconf.rules import ERROR, Finding, run_rules


@dataclass
class CheckResult:
    """Plans and findings for every target found in the inputs."""

    plans: list[Plan]
    findings: list[Finding]

    @property
    def verdict(self) -> str:
        """`fail` when any finding is an error."""
        return "fail" if any(f.severity == ERROR for f in self.findings) else "pass"

    def as_json(self) -> dict[str, Any]:
        """The documented JSON contract."""
        return {
            "verdict": self.verdict,
            "findings": [f.as_json() for f in self.findings],
            "deployments": [deployment_row(p, d) for p in self.plans for d in p.deployments],
        }


def deployment_row(plan: Plan, d: Any) -> dict[str, Any]:
    """One row of the deployments table."""
    exp = plan.expectations.gpu_deployment(d.demand.app, d.demand.deployment)
    return {
        "target": plan.target.name,
        "app": d.demand.app,
        "deployment": d.demand.deployment,
        "replicas": d.demand.num_replicas,
        "feasible_nodes": [{"ray_node": n, "k8s_node": plan.ray_node(n).k8s_node,
                            "group": plan.ray_node(n).group.label, "gpu_node": plan.ray_node(n).is_gpu_node}
                           for n in d.feasible],
        "gpu": {"expected": exp is not None, "num_gpus": d.demand.num_gpus,
                "expected_per_replica": exp.gpus_per_replica if exp else 0.0},
    }


def run_check(paths: list[Path], nodes: list[Path] | None = None, expect: Path | None = None) -> CheckResult:
    """Load, plan and run every rule; raises InputError on bad input."""
    inputs = load_inputs(paths, nodes, expect)
    plans = [build_plan(inputs, t) for t in inputs.targets()]
    findings = [f for p in plans for f in run_rules(p)]
    return CheckResult(plans, findings)
