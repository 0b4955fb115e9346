"""Suppressions: findings a team has decided to live with, each with its reason.

Two places may silence a rule (docs/ci.md, Suppressions):

* in source, on the RayCluster/RayService/RayJob itself: the annotation
  ``gpuconf.io/ignore: "RULE-ID[,RULE-ID...]"`` beside ``gpuconf.io/ignore-reason: "why"``
  silences those rules for that object only;
* externally, in the expectations file: ``suppressions: [{rule, target, reason, expires}]``
  silences a rule for the targets that ``target`` names (an exact name such as
  ``RayCluster/ml-cluster`` or a glob), until ``expires`` (YYYY-MM-DD, optional) has passed.

This module only reads them; gpuconf.static.suppress checks the rule ids against the catalogue
and applies them to the findings.
"""

from __future__ import annotations

import datetime
import fnmatch
from dataclasses import dataclass
from typing import Any

from gpuconf.errors import InputError, Loc
from gpuconf.inputs.loader import LDict, get, loc_of

IGNORE_ANNOTATION = "gpuconf.io/ignore"
REASON_ANNOTATION = "gpuconf.io/ignore-reason"
IN_SOURCE, EXTERNAL = "inSource", "external"  # SARIF's suppression kinds


@dataclass(frozen=True)
class Suppression:
    """One rule silenced, in source (for its own object) or externally (for the targets named)."""

    rule: str
    reason: str
    kind: str
    loc: Loc | None
    target: str | None = None  # external only: a target name or a glob over names
    expires: datetime.date | None = None

    def expired(self, today: datetime.date) -> bool:
        """Whether its `expires` date has passed (the last day it applies is that date itself)."""
        return self.expires is not None and today > self.expires

    def matches(self, target: str) -> bool:
        """Whether this external suppression names the target (`Kind/name`, exactly or by glob)."""
        if self.target is None:
            return True
        base = target.split(" (", 1)[0]  # a duplicate name carries " (file)" after it
        return any(fnmatch.fnmatchcase(t, self.target) for t in (target, base))

    def as_json(self) -> dict[str, Any]:
        """The JSON form of the suppression that silenced a finding."""
        return {
            "kind": self.kind,
            "reason": self.reason,
            "file": self.loc.file if self.loc else None,
            "line": self.loc.line if self.loc else None,
            "target": self.target,
            "expires": self.expires.isoformat() if self.expires else None,
        }


def annotation_suppressions(doc: LDict) -> list[Suppression]:
    """The in-source suppressions of a Ray object's metadata annotations ([] when it has none)."""
    annotations = get(doc, "metadata", "annotations")
    if not isinstance(annotations, dict) or IGNORE_ANNOTATION not in annotations:
        if isinstance(annotations, dict) and REASON_ANNOTATION in annotations:
            raise InputError(
                loc_of(doc, "metadata", "annotations", REASON_ANNOTATION),
                f"`{REASON_ANNOTATION}` without `{IGNORE_ANNOTATION}`: it silences nothing",
                f'add `{IGNORE_ANNOTATION}: "RULE-ID"` naming the rule(s) it is the reason for, or remove it',
            )
        return []
    loc = loc_of(doc, "metadata", "annotations", IGNORE_ANNOTATION)
    value = annotations[IGNORE_ANNOTATION]
    example = f'{IGNORE_ANNOTATION}: "ISOLATION-ZERO-GPU,GPU-CAPACITY"'
    if not isinstance(value, str) or not value.strip():
        raise InputError(loc, f"`{IGNORE_ANNOTATION}` must list rule ids, comma-separated", f"e.g. `{example}`")
    reason = annotations.get(REASON_ANNOTATION)
    if not isinstance(reason, str) or not reason.strip():
        raise InputError(
            loc,
            f"`{IGNORE_ANNOTATION}` has no reason: a silenced rule needs the why beside it",
            f'add the annotation `{REASON_ANNOTATION}: "why this finding is accepted"`',
        )
    rules = [r.strip() for r in value.split(",")]
    if any(not r for r in rules):
        raise InputError(loc, f"`{IGNORE_ANNOTATION}` has an empty rule id ({value!r})", f"e.g. `{example}`")
    return [Suppression(r, reason.strip(), IN_SOURCE, loc) for r in dict.fromkeys(rules)]


_EXAMPLE = (
    "e.g. `suppressions: [{rule: ISOLATION-ZERO-GPU, target: RayCluster/ml-cluster, "
    'reason: "the CPU ingress is trusted", expires: 2027-06-30}]`'
)


def expectation_suppressions(doc: LDict) -> tuple[Suppression, ...]:
    """The expectations file's `suppressions:` list, validated (file:line on each error)."""
    items = doc.get("suppressions", [])
    if items is None:
        return ()
    if not isinstance(items, list):
        raise InputError(loc_of(doc, "suppressions"), "suppressions must be a list", _EXAMPLE)
    out = []
    for i, item in enumerate(items):
        where = loc_of(doc, "suppressions", i)
        if not isinstance(item, dict):
            raise InputError(where, "a suppressions item must be a mapping", _EXAMPLE)
        unknown = sorted(set(item) - {"rule", "target", "reason", "expires"})
        if unknown:
            raise InputError(
                loc_of(doc, "suppressions", i, unknown[0]),
                f"unknown field `{unknown[0]}` in a suppression",
                "known fields: rule, target, reason, expires",
            )
        fields: dict[str, str] = {}
        for key in ("rule", "target", "reason"):
            value = item.get(key)
            if not isinstance(value, str) or not value.strip():
                raise InputError(
                    loc_of(doc, "suppressions", i, key),
                    f"a suppression needs `{key}` (a non-empty string)",
                    _EXAMPLE,
                )
            fields[key] = value.strip()
        out.append(
            Suppression(
                fields["rule"],
                fields["reason"],
                EXTERNAL,
                loc_of(doc, "suppressions", i, "rule"),
                target=fields["target"],
                expires=_expires(item.get("expires"), loc_of(doc, "suppressions", i, "expires")),
            )
        )
    return tuple(out)


def _expires(value: Any, loc: Loc | None) -> datetime.date | None:
    """YAML reads an unquoted 2027-06-30 as a date; a quoted one is a string: both are fine."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InputError(loc, f"`expires` must be a date YYYY-MM-DD, got {value!r}", "e.g. `expires: 2027-06-30`")
