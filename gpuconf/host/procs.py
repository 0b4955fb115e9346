"""Stop a process group: SIGTERM so its own teardown runs, a grace period, then SIGKILL; and a child
that ends with its parent."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from typing import Any


def stop_group(proc: subprocess.Popen[Any], grace_s: float) -> int | None:
    """SIGTERM the process group `proc` leads, wait `grace_s`, SIGKILL the group; the leader's exit code.

    `proc` must have been started with ``start_new_session=True`` (its pid is its group's id).
    Its pipes, if any, are drained meanwhile, so a child blocked writing to one still ends.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=grace_s)
    # The group outlives its leader while members are left: SIGKILL them all, leader gone or not.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # until the leader is reaped and no member of its group is left
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            break
        time.sleep(0.05)
    return proc.returncode


_PR_SET_PDEATHSIG = 1  # prctl(2)


def term_with_parent() -> None:
    """In a child before exec (Popen's preexec_fn): SIGTERM it when the process that started it dies.

    A child in a session of its own gets no signal its parent's group gets; a parent killed without
    running its teardown (SIGKILL, or SIGTERM to a Python without a handler) would leave it running.
    """
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
