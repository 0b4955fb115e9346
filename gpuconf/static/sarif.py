"""`gpuconf check --format sarif`: SARIF 2.1.0 as GitHub code scanning reads it.

One run, tool `gpuconf`, every rule of the catalogue in `tool.driver.rules` (id, name,
shortDescription, fullDescription, help with the fix, defaultConfiguration.level), one
result per finding (ruleId, ruleIndex, level, message with the fix, a physical location with a
relative `artifactLocation.uri` and `region.startLine`). Severity `unchecked` is level `note`.
A suppressed finding stays, with `suppressions: [{kind: inSource|external, status, justification}]`.
Bad input (exit 2) is a run with no result, `invocations[0].executionSuccessful: false` and the
error as a tool execution notification, so a CI step that uploads SARIF still has a file.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from gpuconf.errors import InputError, Loc

if TYPE_CHECKING:
    from gpuconf.static.catalogue import Finding
    from gpuconf.static.check import CheckResult

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "unchecked": "note"}


def level(severity: str) -> str:
    """The SARIF level of a gpuconf severity (`unchecked`: note; it is neither a pass nor a failure)."""
    return LEVELS.get(severity, "note")


def artifact_uri(file: str) -> str:
    """A relative path as a URI reference (GitHub resolves it against the checkout); `<stdin>` escaped."""
    path = PurePosixPath(file.replace("\\", "/"))
    if path.is_absolute():
        return "file://" + quote(str(path))
    return quote(str(path), safe="/")


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("gpuconf")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _driver(result: CheckResult | None) -> dict[str, Any]:
    from gpuconf.static.rules import CATALOGUE

    # A rule's help carries a fix: the first one this run saw, else where the fixes are described.
    seen: dict[str, str] = {}
    for f in [*(result.findings if result else []), *(s.finding for s in (result.suppressed if result else []))]:
        seen.setdefault(f.rule, f.fix)
    rules = []
    for r in CATALOGUE:
        fix = seen.get(r.id) or "each finding names the manifest line and the change to make (docs/rules.md)"
        rules.append(
            {
                "id": r.id,
                "name": r.id.title().replace("-", ""),
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.summary},
                "help": {
                    "text": f"{r.summary}\nfix: {fix}",
                    "markdown": f"{r.summary}\n\n**fix:** {fix}\n\nThe rule catalogue: `docs/rules.md` of gpuconf.",
                },
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {"severity": r.severity},
            }
        )
    return {
        "name": "gpuconf",
        "version": _version(),
        "semanticVersion": _version(),
        "rules": rules,
    }


def _location(loc: Loc | None) -> list[dict[str, Any]]:
    if loc is None:
        return []
    return [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": artifact_uri(loc.file)},
                "region": {"startLine": max(1, loc.line)},
            }
        }
    ]


def _result(f: Finding, rule_index: dict[str, int], fallback: dict[str, Loc], suppression: Any = None) -> dict:
    out: dict[str, Any] = {
        "ruleId": f.rule,
        "level": level(f.severity),
        "message": {"text": f"{f.message}\nfix: {f.fix}" if f.fix else f.message},
        # A finding without a line is placed at its target's object: GitHub wants a location.
        "locations": _location(f.loc or fallback.get(f.target)),
        "properties": {"target": f.target, "severity": f.severity},
    }
    if f.rule in rule_index:
        out["ruleIndex"] = rule_index[f.rule]
    if suppression is not None:
        out["suppressions"] = [{"kind": suppression.kind, "status": "accepted", "justification": suppression.reason}]
    return out


def to_sarif(result: CheckResult) -> dict[str, Any]:
    """The SARIF log of a check."""
    driver = _driver(result)
    rule_index = {r["id"]: i for i, r in enumerate(driver["rules"])}
    fallback = {p.target.name: p.target.cluster.loc for p in result.plans}
    results = [_result(f, rule_index, fallback) for f in result.findings]
    results += [_result(s.finding, rule_index, fallback, s.by) for s in result.suppressed]
    notifications = [
        {"level": "note", "message": {"text": n.message}, **({"locations": _location(n.loc)} if n.loc else {})}
        for n in result.notices
    ]
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return _log(driver, results, invocation)


def error_sarif(exc: InputError) -> dict[str, Any]:
    """The SARIF log of a run that stopped on bad input (exit 2)."""
    text = f"{exc.message}\nfix: {exc.fix}" if exc.fix else exc.message
    notification: dict[str, Any] = {"level": "error", "message": {"text": text}}
    if exc.loc is not None:
        notification["locations"] = _location(exc.loc)
    invocation = {"executionSuccessful": False, "exitCode": 2, "toolExecutionNotifications": [notification]}
    return _log(_driver(None), [], invocation)


def _log(driver: dict[str, Any], results: list[dict[str, Any]], invocation: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": driver},
                "invocations": [invocation],
                "columnKind": "utf16CodeUnits",
                "results": results,
            }
        ],
    }
