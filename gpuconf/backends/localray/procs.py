"""Process bookkeeping for local Ray nodes: every process carries the run's marker.

Each `ray start` gets GPUCONF_RUN_ID in its environment; Ray's own processes
(GCS, raylet, dashboard, workers) inherit it. Teardown signals the `ray start
--block` parents, then sweeps anything still carrying the marker, so nothing
survives a failed test, Ctrl-C, or a killed run (`gpuconf cleanup`).
"""

from __future__ import annotations

import os
import secrets
import signal
import time

import psutil

RUN_ENV = "GPUCONF_RUN_ID"


def new_run_id(prefix: str | None = None) -> str:
    """A run id that is this run's own: ``<prefix>.<random>`` (``gpuconf.<random>`` without one).

    An inherited GPUCONF_RUN_ID (a caller's export, a wrapping script) only names the prefix, so no
    process that merely carries the caller's value is ever taken for one of this run's.
    """
    return f"{prefix or 'gpuconf'}.{secrets.token_hex(4)}"


def _not_mine() -> set[int]:
    """This process and its ancestors: never a run's to stop, whatever their environment holds."""
    me = psutil.Process()
    return {me.pid, *(p.pid for p in me.parents())}


def marked_processes(run_id: str | None) -> list[psutil.Process]:
    """Processes whose environment carries the run marker: the run `run_id` and the runs it prefixes
    (``<run_id>.<random>``), any gpuconf run when None. This process and its ancestors are never listed."""
    found = []
    skip = _not_mine()
    for proc in psutil.process_iter(["pid"]):
        if proc.pid in skip:
            continue
        try:
            value = proc.environ().get(RUN_ENV)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess, OSError):
            continue
        if value and (run_id is None or value == run_id or value.startswith(run_id + ".")):
            found.append(proc)
    return found


def session_pids(sid: int) -> list[int]:
    """The processes of one session (a node's `ray start` and everything it spawned)."""
    out = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getsid(proc.pid) == sid:
                out.append(proc.pid)
        except OSError:
            continue
    return out


def terminate(procs: list[psutil.Process], grace_s: float = 5.0) -> int:
    """SIGTERM, wait up to `grace_s`, then SIGKILL what is left; returns how many were signalled."""
    alive = []
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
            alive.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    _, still = psutil.wait_procs(alive, timeout=grace_s)
    for p in still:
        try:
            p.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    psutil.wait_procs(still, timeout=grace_s)
    return len(alive)


def sweep_leftovers(run_id: str | None, grace_s: float = 3.0) -> int:
    """Stop every process of the run (or of any gpuconf run); returns the count."""
    total = 0
    for _ in range(3):  # Ray may spawn a worker while we sweep
        procs = marked_processes(run_id)
        if not procs:
            break
        total += terminate(procs, grace_s)
        time.sleep(0.2)
    return total
