"""One wait helper and the named timeout tiers, scaled by one factor for slow runners."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

# Seconds per tier before --timeout-scale; measured on a 2-core runner with headroom.
TIERS: dict[str, float] = {
    "short": 15.0,
    "ray_node": 90.0,
    "serve_app": 180.0,
    "probe": 60.0,
    "kube": 120.0,
    # a real cluster: image pulls (a Ray GPU image is many GB) and node scale-up
    "pods": 900.0,
    "build": 3600.0,
}
_scale = 1.0


def set_timeout_scale(factor: float) -> None:
    """Scale every tier (e.g. 2.0 on a slow, shared runner)."""
    global _scale
    if factor <= 0:
        raise ValueError("timeout scale must be positive")
    _scale = factor


def timeout(tier: str) -> float:
    """The scaled timeout of a tier, in seconds."""
    return TIERS[tier] * _scale


class WaitTimeout(TimeoutError):
    """A wait ran out; says what it waited for, the last state seen and the last error."""


@dataclass
class _Last:
    state: object = None
    error: BaseException | None = None


def wait_until(
    probe: Callable[[], T | None],
    desc: str,
    tier: str = "short",
    interval: float = 0.25,
    progress_every: float = 10.0,
    fail_fast: Callable[[], str | None] | None = None,
    fatal: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll `probe` until it returns a truthy value; return that value.

    `probe` may raise: the error is remembered and polling goes on, except for the
    `fatal` exception types, which end the wait at once. `fail_fast`,
    when given, is asked each round for a reason to stop early (e.g. "infeasible").
    Progress is printed every `progress_every` seconds; the timeout message names
    what was waited for, how long, the last state and the last error.
    """
    limit = timeout(tier)
    start = time.monotonic()
    next_note = start + progress_every
    last = _Last()
    while True:
        try:
            value = probe()
            last.state, last.error = value, None
            if value:
                return value
        except fatal:
            raise
        except Exception as exc:  # remembered for the timeout message
            last.error = exc
        if fail_fast is not None:
            reason = fail_fast()
            if reason:
                raise WaitTimeout(f"gave up waiting for {desc}: {reason}")
        now = time.monotonic()
        if now - start > limit:
            raise WaitTimeout(
                f"timed out after {limit:.0f}s waiting for {desc}; last state: {last.state!r}; "
                f"last error: {last.error!r}"
            )
        if now >= next_note:
            print(f"  ... still waiting for {desc} ({now - start:.0f}s of {limit:.0f}s)", file=sys.stderr, flush=True)
            next_note = now + progress_every
        time.sleep(interval)
