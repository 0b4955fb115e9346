"""Text output of `gpuconf check` for people."""

from __future__ import annotations

from gpuconf.static.catalogue import ERROR, WARNING, Finding
from gpuconf.static.check import CheckResult, deployment_row
from gpuconf.static.rules import CHECK_WITH


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
    for s in result.suppressed:  # silenced: said in one line each, never counted
        where = f"{s.finding.loc}: " if s.finding.loc else ""
        by = f" at {s.by.loc}" if s.by.loc else ""
        lines.append(f"{where}suppressed {s.finding.severity} [{s.finding.rule}] {s.finding.message}")
        lines.append(f"    suppressed ({s.by.kind}{by}): {s.by.reason}")
    if not result.plans:
        lines.append(
            "nothing to check: no RayCluster, RayService or RayJob with its own cluster in the given paths "
            "(every document was read; the notes above say what each holds)"
        )
    lines.extend(_unchecked_lines(result.unchecked))
    counts = f"{result.count(ERROR)} error(s), {result.count(WARNING)} warning(s)"
    if result.unchecked:
        counts += f", {len(result.unchecked)} unchecked"
    if result.suppressed:
        counts += f", {len(result.suppressed)} suppressed"
    lines.append(f"verdict: {result.verdict.upper()} ({counts})")
    return "\n".join(lines)


def _unchecked_lines(unchecked: list[Finding]) -> list[str]:
    """Each app or deployment the static tier could not see, and the two ways to check it."""
    if not unchecked:
        return []
    lines = [
        f"unchecked: {len(unchecked)} app(s)/deployment(s) whose resources were not seen (not a failure, not a pass):"
    ]
    for f in unchecked:
        app, deployment = f.evidence.get("app"), f.evidence.get("deployment")
        code = f" ({f.evidence['import_path']})" if f.evidence.get("import_path") else ""
        what = f"deployment {app}/{deployment}" if deployment else f"app {app}{code}"
        lines.append(f"  {f.target}: {what}" + (f" at {f.loc}" if f.loc else ""))
    lines.append("check them with either:")
    width = max(len(command) for command, _ in CHECK_WITH)
    lines.extend(f"  {command:<{width}}  {what}" for command, what in CHECK_WITH)
    return lines
