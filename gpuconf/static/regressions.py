"""The regression cases: known-bad manifests and the rule each must trip."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gpuconf.errors import InputError, Loc

# First line of every case: `# expect: RULE [+CONSEQUENCE ...] | what is wrong`
_HEADER = re.compile(r"^#\s*expect:\s*(?P<rule>[A-Z0-9-]+)(?P<also>(?:\s+\+[A-Z0-9-]+)*)\s*\|\s*(?P<what>.+)$")


@dataclass(frozen=True)
class RegressionCase:
    """A known-bad manifest, the rule it must trip, and the findings that follow from it."""

    path: Path
    rule: str
    consequences: frozenset[str]
    description: str

    @property
    def name(self) -> str:
        """The file name without extension."""
        return self.path.stem


def load_case(path: Path) -> RegressionCase:
    """Parse a case's header line."""
    first = path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
    match = _HEADER.match(first)
    if not match:
        raise InputError(
            Loc(str(path), 1), "a regression case must start with `# expect: RULE [+RULE ...] | description`"
        )
    also = frozenset(w.lstrip("+") for w in match.group("also").split())
    return RegressionCase(path, match.group("rule"), also, match.group("what").strip())


def discover(folder: Path) -> list[RegressionCase]:
    """Every case in a regressions folder."""
    return [load_case(p) for p in sorted(folder.glob("*.yaml"))]
