"""Static tier: every rule of the catalogue holds on the manifests under test."""

from __future__ import annotations

import pytest

from gpuconf.static.check import CheckResult
from gpuconf.static.rules import CATALOGUE, ERROR
from gpuconf.testing.evidence import Evidence

pytestmark = pytest.mark.static


@pytest.mark.parametrize("rule_id", [r.id for r in CATALOGUE])
def test_rule_holds(rule_id: str, check_result: CheckResult, evidence: Evidence) -> None:
    """No error finding of this rule on any target of the manifests."""
    findings = [f for f in check_result.findings if f.rule == rule_id]
    evidence.add("targets", [p.target.name for p in check_result.plans])
    evidence.add("findings", [f.as_json() for f in findings])
    errors = [f for f in findings if f.severity == ERROR]
    assert not errors, "\n".join(f"{f.loc}: [{f.rule}] {f.message}\n    fix: {f.fix}" for f in errors)
