"""Kubernetes resource quantities ("500m", "4Gi", "1") as numbers.

The official client's parser (kubernetes.utils.parse_quantity) imports the whole
client, a quarter of `gpuconf check`'s run time; this one follows the same grammar
and the unit tests hold the two to the same answers.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from gpuconf.errors import ApiServerRefusal, Loc

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -3, "u": -2, "m": -1, "": 0, "k": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
_FORM = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def parse_quantity(value: Any) -> Decimal:
    """A quantity as a Decimal; raises ValueError for anything Kubernetes would reject."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a quantity")
    if isinstance(value, (int, float)):
        exact = Decimal(str(value))
        if not exact.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return exact
    match = _FORM.match(str(value).strip())
    if not match:
        raise ValueError(f"invalid quantity {value!r}")
    number, suffix = match.group(1), match.group(2) or ""
    if suffix.upper().startswith("E") and suffix not in _BINARY and "e" in number.lower():
        raise ValueError(f"invalid quantity {value!r}")
    try:
        base = Decimal(number)
    except InvalidOperation:
        raise ValueError(f"invalid quantity {value!r}") from None
    if suffix in _BINARY:
        return base * (Decimal(1024) ** _BINARY[suffix])
    return base * (Decimal(1000) ** _DECIMAL[suffix])


def quantity(value: Any, loc: Loc | None = None, what: str = "quantity") -> Decimal:
    """Parse a quantity; bad input names its line."""
    try:
        return parse_quantity(value)
    except ValueError as exc:
        raise ApiServerRefusal(
            loc, f"{what}: {value!r} is not a Kubernetes quantity ({exc})", 'use a form like "2", "500m", "4Gi"'
        ) from None


def ceil_int(value: Decimal) -> int:
    """What resource.Quantity.Value() returns: the value rounded up to an integer."""
    return math.ceil(value)
