"""Text output of `gpuconf check` for people."""

from __future__ import annotations

from gpuconf.static.check import CheckResult, deployment_row


def render_text(result: CheckResult) -> str:
    """A deployments → feasible node groups table, then the findings, then the verdict."""
    lines = [f"note: {n}" for n in result.notices]
    if lines:
        lines.append("")
    for plan in result.plans:
        lines.append(f"== {plan.target.name}")
        for p in plan.pods:
            where = p.node or f"PENDING ({p.pending_message})"
            note = f"  ray start FAILS: {p.group.start.error}" if p.group.start.error else ""
            auto = " (autoscaled: added up to maxReplicas when demand is pending)" if p.autoscaled else ""
            lines.append(f"  pod {p.name:<36} group {p.group.label:<12} -> {where}{note}{auto}")
        lines.append("")
        if not plan.target.serve.given:
            lines.append(
                f"  no Serve config given for {plan.target.name}: cluster-level rules only, "
                "no deployment placement checked"
            )
            lines.append("")
            continue
        lines.append(f"  {'deployment':<28} {'replicas':>8}  {'gpus':>4}  feasible Ray nodes (k8s node, GPU node?)")
        for d in plan.deployments:
            row = deployment_row(plan, d)
            feas = ", ".join(
                f"{n['group']}@{n['k8s_node']}{' [GPU]' if n['gpu_node'] else ''}"
                f"{' [autoscaled]' if n['autoscaled'] else ''}"
                for n in row["feasible_nodes"]
            )
            mark = " *" if row["gpu"]["expected"] else ""
            lines.append(
                f"  {d.demand.key + mark:<28} {d.demand.num_replicas:>8}  {d.demand.num_gpus:>4g}  {feas or 'NONE'}"
            )
        lines.append("  (* = expected to run on GPU nodes)")
        lines.append("")
    for f in result.findings:
        where = f"{f.loc}: " if f.loc else ""
        lines.append(f"{where}{f.severity} [{f.rule}] {f.message}")
        lines.append(f"    fix: {f.fix}")
    if not result.plans:
        lines.append(
            "nothing to check: no RayCluster, RayService or RayJob with its own cluster in the given paths "
            "(every document was read; the notes above say what each holds)"
        )
    errors = sum(1 for f in result.findings if f.severity == "error")
    warnings = len(result.findings) - errors
    lines.append(f"verdict: {result.verdict.upper()} ({errors} error(s), {warnings} warning(s))")
    return "\n".join(lines)
