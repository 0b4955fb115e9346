"""Who owns a local run, and every process that belongs to it, found by what a process cannot hide.

Each run's temp dir holds `owner.json`: the owner's pid and start time (a reused pid does not
pass for the owner) and the session id of every `ray start` it launched. Each node starts in
its own session (start_new_session), and Ray's processes, agents included, stay in it: their
rewritten titles (ray::DashboardAgent) hide the environment marker, not the session.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from gpuconf.backends.localray import procs

LOCK = "owner.json"
TEMP_GLOB = "gpc-*"


@dataclass
class RunLock:
    """The owner record of one run (lives in its temp dir)."""

    temp_dir: Path
    run_id: str
    owner_pid: int
    owner_start: float
    sessions: list[int] = field(default_factory=list)

    @classmethod
    def create(cls, temp_dir: Path, run_id: str) -> RunLock:
        """The lock of a run owned by this process."""
        lock = cls(temp_dir, run_id, os.getpid(), psutil.Process().create_time())
        lock.save()
        return lock

    @classmethod
    def read(cls, temp_dir: Path) -> RunLock | None:
        """The lock of a temp dir (None when absent or unreadable)."""
        try:
            doc = json.loads((temp_dir / LOCK).read_text())
            return cls(
                temp_dir,
                str(doc["run_id"]),
                int(doc["owner_pid"]),
                float(doc["owner_start"]),
                [int(s) for s in doc.get("sessions", [])],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self) -> None:
        """Write the lock atomically (a reader never sees half of it)."""
        tmp = self.temp_dir / f".{LOCK}.tmp"
        tmp.write_text(
            json.dumps(
                {
                    "run_id": self.run_id,
                    "owner_pid": self.owner_pid,
                    "owner_start": self.owner_start,
                    "sessions": self.sessions,
                }
            )
        )
        tmp.replace(self.temp_dir / LOCK)

    def add_session(self, sid: int) -> None:
        """Record the session of a node just started."""
        self.sessions.append(sid)
        self.save()

    def owner_alive(self) -> bool:
        """True while the owning process runs (same pid and the same start time)."""
        try:
            return abs(psutil.Process(self.owner_pid).create_time() - self.owner_start) < 1.0
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return False


def run_processes(run_id: str, sessions: list[int], temp_dir: Path | None = None) -> list[psutil.Process]:
    """Every process of a run: in one of its sessions, carrying its marker, or naming its temp dir."""
    me = os.getpid()
    wanted = set(sessions)
    found = {p.pid: p for p in procs.marked_processes(run_id)}
    needle = str(temp_dir) if temp_dir else None
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me or proc.pid in found:
            continue
        try:
            if os.getsid(proc.pid) in wanted or (needle and any(needle in a for a in proc.cmdline())):
                found[proc.pid] = proc
        except (psutil.Error, OSError):
            continue
    return [p for p in found.values() if p.pid != me]


def stop_run(run_id: str, sessions: list[int], temp_dir: Path | None, grace_s: float = 5.0) -> int:
    """Stop every process of a run (twice over: Ray may spawn while we stop) and remove its temp dir."""
    total = 0
    for _ in range(3):
        found = run_processes(run_id, sessions, temp_dir)
        if not found:
            break
        total += procs.terminate(found, grace_s)
    if temp_dir is not None:
        remove_tree(temp_dir)
    return total


def remove_tree(path: Path, attempts: int = 20, pause_s: float = 0.5) -> bool:
    """Remove ``path`` until it is gone; True when it is.

    One rmtree is not enough: a Ray process that is exiting (its raylet gone) may still write a
    log into the dir while it is removed, and rmtree then leaves it behind ("Directory not
    empty"). Seen in 4 of 20 interrupted soak runs at load 10-14.
    """
    for _ in range(attempts):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return True
        time.sleep(pause_s)
    return not path.exists()


@dataclass
class CleanupReport:
    """What `gpuconf cleanup` did."""

    removed: list[tuple[str, Path, int]] = field(default_factory=list)  # run id, temp dir, processes stopped
    kept: list[tuple[str, Path, int]] = field(default_factory=list)  # run id, temp dir, live owner pid


def cleanup_orphans(tmp_root: Path = Path("/tmp")) -> CleanupReport:
    """Stop the processes and remove the temp dirs of runs whose owner is gone; leave live runs alone."""
    report = CleanupReport()
    for temp_dir in sorted(tmp_root.glob(TEMP_GLOB)):
        lock = RunLock.read(temp_dir)
        if lock is None:
            continue  # not a run dir of ours, or one still being created: never guess
        if lock.owner_alive():
            report.kept.append((lock.run_id, temp_dir, lock.owner_pid))
            continue
        report.removed.append((lock.run_id, temp_dir, stop_run(lock.run_id, lock.sessions, temp_dir, grace_s=3.0)))
    return report
