"""Rules on what KubeRay's `bash -c` expands in rayStartParams before `ray start` runs."""

from __future__ import annotations

from collections.abc import Iterator

from gpuconf.model.plan import Plan
from gpuconf.static.catalogue import ERROR, Finding, rule
from gpuconf.static.rules.common import at_group


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
                at_group(plan, g, "rayStartParams", key),
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
