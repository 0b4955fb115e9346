"""Unit tests of gpuconf.inputs.quantity against the official client's parser."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from kubernetes.utils import parse_quantity as official_parse_quantity

from gpuconf.errors import InputError, Loc
from gpuconf.inputs.quantity import ceil_int, parse_quantity, quantity

GOOD: list[tuple[Any, Decimal]] = [
    ("1", Decimal(1)),
    ("500m", Decimal("0.5")),
    ("0.5", Decimal("0.5")),
    ("4Gi", Decimal(4 * 1024**3)),
    ("16Gi", Decimal(16 * 1024**3)),
    ("2G", Decimal(2 * 10**9)),
    ("1e3", Decimal(1000)),
    ("1E", Decimal(10**18)),
    ("100Ki", Decimal(102400)),
    ("3k", Decimal(3000)),
    ("1.5Mi", Decimal(1572864)),
    (7, Decimal(7)),
    (0.25, Decimal("0.25")),
    ("12n", Decimal("0.000000012")),
    ("5u", Decimal("0.000005")),
]
BAD = ["abc", "1GG", "", "Gi"]


@pytest.mark.parametrize("value, expected", GOOD, ids=[repr(v) for v, _ in GOOD])
def test_agrees_with_the_official_parser(value: Any, expected: Decimal) -> None:
    """Same number as kubernetes.utils.parse_quantity, and the number we expect."""
    ours = parse_quantity(value)
    assert ours == official_parse_quantity(value)
    assert ours == expected


@pytest.mark.parametrize("value", BAD)
def test_both_reject_bad_strings(value: str) -> None:
    """Whatever the official parser refuses, ours refuses too."""
    with pytest.raises(ValueError):
        official_parse_quantity(value)
    with pytest.raises(ValueError):
        parse_quantity(value)


def test_boolean_is_not_a_quantity() -> None:
    """YAML `true` under limits is a mistake, not 1."""
    with pytest.raises(ValueError):
        parse_quantity(True)


def test_quantity_error_names_the_line() -> None:
    """The wrapper turns a bad value into an InputError at the given place."""
    with pytest.raises(InputError) as exc:
        quantity("lots", Loc("r.yaml", 7), "resources.limits.cpu")
    assert exc.value.loc == Loc("r.yaml", 7)
    assert "resources.limits.cpu: 'lots' is not a Kubernetes quantity" in exc.value.message


@pytest.mark.parametrize(
    "value, expected",
    [("500m", 1), ("1500m", 2), ("2", 2), ("2000m", 2), ("1n", 1), ("0", 0), ("4Gi", 4 * 1024**3)],
)
def test_ceil_int_rounds_up_like_quantity_value(value: str, expected: int) -> None:
    """resource.Quantity.Value() rounds up to the next integer."""
    assert ceil_int(parse_quantity(value)) == expected
