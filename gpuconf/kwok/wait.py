"""One wait helper and the named timeout tiers of the kwok backend.

``wait_until`` polls on the monotonic clock, remembers the last state and the last error,
and fails with both (plus any diagnostics, such as the tail of a component's log). A probe
can raise :class:`Abort` to stop waiting at once (e.g. the process it waits for has exited).
Timeouts scale with ``$GPUCONF_TIMEOUT_SCALE`` for slow runners.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Abort(Exception):
    """Raised by a probe when waiting longer cannot help."""


class WaitTimeout(TimeoutError):
    """A wait ran out of time; the message says what was awaited, the last state and error."""


def _scale() -> float:
    return float(os.environ.get("GPUCONF_TIMEOUT_SCALE") or 1.0)


@dataclass(frozen=True)
class Timeouts:
    """Named timeout tiers in seconds (before scaling)."""

    component_ready: float = 90.0  # a control-plane process answers its health endpoint
    crd_established: float = 120.0  # each KubeRay CRD applied, then Established (a busy apiserver is slow)
    cluster_settled: float = 60.0  # the "default" service account exists (controllers run)
    stop_grace: float = 10.0  # SIGTERM → SIGKILL

    def scaled(self, name: str) -> float:
        """The tier ``name`` multiplied by ``$GPUCONF_TIMEOUT_SCALE``."""
        return float(getattr(self, name)) * _scale()


TIMEOUTS = Timeouts()


def wait_until(
    probe: Callable[[], T],
    desc: str,
    timeout: float,
    *,
    interval: float = 0.5,
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy and return that.

    An exception from ``probe`` is remembered as the last error and polling goes on, except
    :class:`Abort`, which ends the wait at once. On timeout (or abort), raise
    :class:`WaitTimeout` naming ``desc``, the elapsed time, the last state and the last error,
    followed by ``diagnostics()``.
    """
    start = time.monotonic()
    last_state: object = None
    last_error: BaseException | None = None
    aborted = False
    while True:
        try:
            last_state = probe()
            if last_state:
                return last_state
        except Abort as exc:
            last_error, aborted = exc, True
        except Exception as exc:  # noqa: BLE001 - remembered and reported below
            last_error = exc
        elapsed = time.monotonic() - start
        if aborted or elapsed >= timeout:
            verb = "gave up" if aborted else "timed out"
            message = (
                f"{verb} after {elapsed:.1f}s (limit {timeout:.0f}s) waiting for {desc}; "
                f"last state: {last_state!r}; last error: {last_error!r}"
            )
            if diagnostics is not None:
                message += "\n" + diagnostics()
            raise WaitTimeout(message) from last_error
        time.sleep(interval)
