"""Applying suppressions (gpuconf.inputs.suppressions) to a check's findings.

A silenced finding is not dropped: it stays in the JSON and SARIF output, marked with the
suppression that silenced it, while the verdict and the exit code follow the other findings.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from gpuconf.errors import InputError
from gpuconf.inputs.manifests import Notice
from gpuconf.inputs.suppressions import Suppression
from gpuconf.model.plan import Plan
from gpuconf.static.catalogue import Finding
from gpuconf.static.rules import CATALOGUE


@dataclass(frozen=True)
class Suppressed:
    """A finding and the suppression that silenced it."""

    finding: Finding
    by: Suppression


def plan_suppressions(plan: Plan) -> list[Suppression]:
    """The suppressions that may apply to a plan: its object's annotations, then the expectations'."""
    return [*plan.target.cluster.suppressions, *plan.expectations.suppressions]


def validate_rule_ids(suppressions: list[Suppression]) -> None:
    """An unknown rule id is bad input at its line (a typo would silence nothing, silently)."""
    import difflib

    known = [r.id for r in CATALOGUE]
    for s in suppressions:
        if s.rule not in known:
            close = difflib.get_close_matches(s.rule, known, n=1)
            raise InputError(
                s.loc,
                f"suppression names unknown rule {s.rule!r}",
                (f"did you mean {close[0]}? " if close else "")
                + "the rule ids are listed by `gpuconf catalogue` (docs/rules.md)",
            )


def apply_suppressions(
    plans: list[Plan], findings: list[Finding], today: datetime.date | None = None
) -> tuple[list[Finding], list[Suppressed], list[Notice]]:
    """Split the findings into active and silenced ones; notices for expired suppressions.

    Raises InputError for a suppression that names an unknown rule.
    """
    today = today or datetime.date.today()
    by_target = {p.target.name: plan_suppressions(p) for p in plans}
    every = list(dict.fromkeys(s for ss in by_target.values() for s in ss))
    validate_rule_ids(every)
    notices = [
        Notice(
            s.loc,
            f"suppression of {s.rule} for {s.target} expired on {s.expires}: it no longer applies "
            "(fix the finding, or renew `expires:` with the reason)",
        )
        for s in every
        if s.expired(today)
    ]
    active: list[Finding] = []
    silenced: list[Suppressed] = []
    for f in findings:
        match = next(
            (
                s
                for s in by_target.get(f.target, [])
                if s.rule == f.rule and s.matches(f.target) and not s.expired(today)
            ),
            None,
        )
        if match is None:
            active.append(f)
        else:
            silenced.append(Suppressed(f, match))
    return active, silenced, notices
