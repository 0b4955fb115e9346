"""The rule registry: what a finding is, what a rule is, and the list every rule joins.

A rule registers with ``@rule(id, severity, summary)`` when its module is imported.
:mod:`gpuconf.static.rules` imports every rule module, so read :data:`CATALOGUE` and call
:func:`run_rules` through it; this module imports no rule, so a rule module may import it
without a circle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gpuconf.errors import Loc
from gpuconf.model.plan import Plan

ERROR, WARNING = "error", "warning"
# What the static tier could not see (deployments set in code, no Serve config): neither a pass nor
# a failure. A run with such findings and no error has verdict UNCHECKED_VERDICT (exit 4).
UNCHECKED = "unchecked"
UNCHECKED_VERDICT = "unchecked"


@dataclass(frozen=True)
class Place:
    """What a finding is about: the line it shows, and the field's key path, which ``--fix`` edits.

    ``keys`` lead from the mapping that starts at ``root`` (a YAML document, an item of a
    ``kind: List``, or a RayService's serveConfigV2 block) to the field, which may be absent (the
    fix adds it); ``loc`` is the deepest of those keys the file has.
    """

    loc: Loc | None
    root: Loc | None = None
    keys: tuple[Any, ...] = ()


@dataclass
class Finding:
    """One rule's verdict on one place of the manifests.

    A rule gives the place, what was seen and the fix; :func:`run_rules` fills in the rule's id,
    its severity and the target from the catalogue.
    """

    at: Place
    message: str
    fix: str
    evidence: dict[str, Any] = field(default_factory=dict)
    # Left empty, the rule's registered severity; a rule sets it only where it depends on the
    # finding (an expectation's setting, what the pool shows, what could not be seen).
    severity: str = ""
    rule: str = ""
    target: str = ""

    @property
    def loc(self) -> Loc | None:
        """The file:line the finding names."""
        return self.at.loc

    def as_json(self) -> dict[str, Any]:
        """The JSON contract of a finding."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "file": self.loc.file if self.loc else None,
            "line": self.loc.line if self.loc else None,
            "message": self.message,
            "fix": self.fix,
            "target": self.target,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Rule:
    """A catalogue entry."""

    id: str
    severity: str
    summary: str
    check: Callable[[Plan], Iterator[Finding]]


CATALOGUE: list[Rule] = []


def rule(
    rule_id: str, severity: str, summary: str
) -> Callable[[Callable[[Plan], Iterator[Finding]]], Callable[[Plan], Iterator[Finding]]]:
    """Register a check under a stable id."""

    def register(fn: Callable[[Plan], Iterator[Finding]]) -> Callable[[Plan], Iterator[Finding]]:
        CATALOGUE.append(Rule(rule_id, severity, summary, fn))
        return fn

    return register


def run_rules(plan: Plan) -> list[Finding]:
    """Every finding of every rule, with its rule's id, severity and target; errors first, then by file and line."""
    findings = []
    for r in CATALOGUE:
        for f in r.check(plan):
            f.rule, f.severity, f.target = r.id, f.severity or r.severity, plan.target.name
            findings.append(f)
    return sorted(
        findings, key=lambda f: (f.severity != ERROR, f.loc.file if f.loc else "", f.loc.line if f.loc else 0)
    )
