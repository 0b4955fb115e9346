"""`gpuconf check --format junit`: the static tier as a JUnit XML report for CI test tabs.

One testsuite per target (RayCluster/RayService/RayJob), one testcase per rule of the catalogue:
a rule with an error finding on that target is a `<failure>` (each finding's file:line, message
and fix in its text), an unchecked finding is `<skipped>` with the reason, a warning passes with
the finding in `<system-out>`, and a suppressed finding is named there with its reason. Bad input
(exit 2) is one testcase with an `<error>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from gpuconf.errors import InputError

if TYPE_CHECKING:
    from gpuconf.static.catalogue import Finding
    from gpuconf.static.check import CheckResult

SUITE = "gpuconf check"


def _where(f: Finding) -> str:
    return f"{f.loc}: " if f.loc else ""


def _text(findings: list[Finding]) -> str:
    return "\n".join(f"{_where(f)}{f.severity} [{f.rule}] {f.message}\n    fix: {f.fix}" for f in findings)


def to_junit(result: CheckResult) -> str:
    """The JUnit XML of a check (testsuites > testsuite per target > testcase per rule)."""
    from gpuconf.static.rules import CATALOGUE

    root = ET.Element("testsuites", name=SUITE)
    totals = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0}
    for plan in result.plans:
        target = plan.target.name
        suite = ET.SubElement(root, "testsuite", name=target, file=plan.target.cluster.loc.file)
        counts = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0}
        for r in CATALOGUE:
            mine = [f for f in result.findings if f.target == target and f.rule == r.id]
            silenced = [s for s in result.suppressed if s.finding.target == target and s.finding.rule == r.id]
            case = ET.SubElement(suite, "testcase", classname=target, name=r.id)
            first = next((f for f in mine if f.loc), None)
            if first is not None and first.loc is not None:
                case.set("file", first.loc.file)
                case.set("line", str(first.loc.line))
            counts["tests"] += 1
            errors = [f for f in mine if f.severity == "error"]
            unchecked = [f for f in mine if f.severity == "unchecked"]
            if errors:
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", message=f"{_where(errors[0])}{errors[0].message}", type=r.id)
                failure.text = _text(errors)
            elif unchecked:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"unchecked: {unchecked[0].message}").text = _text(unchecked)
            out = [f for f in mine if f.severity not in ("error", "unchecked")]
            lines = [_text(out)] if out else []
            lines += [f"suppressed ({s.by.kind}: {s.by.reason}): {_text([s.finding])}" for s in silenced]
            if lines:
                ET.SubElement(case, "system-out").text = "\n".join(lines)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def error_junit(exc: InputError) -> str:
    """The JUnit XML of a run that stopped on bad input (exit 2): one testcase in error."""
    root = ET.Element("testsuites", name=SUITE, tests="1", failures="0", errors="1", skipped="0")
    suite = ET.SubElement(root, "testsuite", name=SUITE, tests="1", failures="0", errors="1", skipped="0")
    case = ET.SubElement(suite, "testcase", classname=SUITE, name="inputs")
    if exc.loc is not None:
        case.set("file", exc.loc.file)
        case.set("line", str(exc.loc.line))
    ET.SubElement(case, "error", message=exc.message, type="bad input").text = exc.render()
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
