"""Every known-bad manifest is caught by its named rule, and by nothing unrelated."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuconf.static.check import run_check
from gpuconf.static.regressions import RegressionCase, discover
from gpuconf.static.rules import CATALOGUE, ERROR
from gpuconf.testing.evidence import Evidence

pytestmark = [pytest.mark.static, pytest.mark.regression]
CASES = discover(Path(__file__).resolve().parents[2] / "manifests" / "regressions")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_trips_its_rule(case: RegressionCase, evidence: Evidence) -> None:
    """The named rule fails the case; the other failing rules are exactly its declared consequences."""
    result = run_check([case.path])
    rules = {f.rule for f in result.findings if f.severity == ERROR}
    # A warning-only rule (e.g. SERVE-AUTOSCALING-MAX) is shown by its warning, with no unrelated error.
    warning_rule = next(r.severity for r in CATALOGUE if r.id == case.rule) != ERROR
    if warning_rule and any(f.rule == case.rule for f in result.findings):
        rules.add(case.rule)
    evidence.add("expected", {"rule": case.rule, "consequences": sorted(case.consequences)})
    evidence.add("findings", [f"{f.loc}: [{f.rule}] {f.message}" for f in result.findings])
    assert result.verdict == "fail" or warning_rule
    assert case.rule in rules, f"{case.path.name}: {case.rule} did not fire (fired: {sorted(rules)})"
    assert rules - {case.rule} == set(case.consequences), (
        f"{case.path.name}: unrelated findings {sorted(rules - {case.rule} - case.consequences)}, "
        f"missing consequences {sorted(case.consequences - rules)}"
    )
    named = next(f for f in result.findings if f.rule == case.rule)
    assert named.loc is not None and named.loc.line > 0 and named.fix, "a finding must name its line and a fix"


def test_every_rule_has_a_regression_case() -> None:
    """Each rule of the catalogue is shown to fail on at least one known-bad manifest."""
    covered = {c.rule for c in CASES} | {r for c in CASES for r in c.consequences}
    uncovered = sorted({r.id for r in CATALOGUE} - covered)
    assert not uncovered, f"rules without a regression case: {uncovered}"
