"""Evidence: what a check saw, attached to its test report (junit properties, conformance.json)."""

from __future__ import annotations

import json
from typing import Any

import pytest


class Evidence:
    """Records facts for one check; each becomes a junit property and a conformance.json field."""

    def __init__(self, item: pytest.Item) -> None:
        self._item = item
        self.facts: dict[str, Any] = {}

    def add(self, key: str, value: Any) -> Any:
        """Record one fact (JSON-serialisable) and return it, so checks can record as they read."""
        self.facts[key] = value
        self._item.user_properties.append((key, value if isinstance(value, str) else json.dumps(value, default=str)))
        return value

    def update(self, facts: dict[str, Any]) -> None:
        """Record several facts."""
        for k, v in facts.items():
            self.add(k, v)


def decode_properties(props: list[tuple[str, Any]]) -> dict[str, Any]:
    """user_properties back to JSON values."""
    out: dict[str, Any] = {}
    for key, value in props:
        try:
            out[key] = json.loads(value) if isinstance(value, str) and value[:1] in '[{"0123456789-tfn' else value
        except (ValueError, TypeError):
            out[key] = value
    return out
