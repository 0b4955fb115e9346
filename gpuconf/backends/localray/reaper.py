"""A run's reaper: outlives its owner and stops the run when the owner dies without doing so.

Started in a session of its own (so a signal to the owner's process group does not reach it),
it watches the owner named in the run's lock. When the owner is gone (killed, aborted, or
exited without teardown) it stops every process of the run and removes the temp dir; when
the owner's own teardown removed the temp dir, it just exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from gpuconf.backends.localray import procs


def spawn(temp_dir: Path, run_id: str) -> subprocess.Popen[bytes]:
    """Start the reaper of the run in `temp_dir`, owned by this process (detached: own session, no run marker)."""
    import psutil

    env = {k: v for k, v in os.environ.items() if k != procs.RUN_ENV}
    owner = [str(os.getpid()), repr(psutil.Process().create_time())]
    return subprocess.Popen(
        [sys.executable, "-m", "gpuconf.backends.localray.reaper", str(temp_dir), run_id, *owner],
        start_new_session=True,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def watch(temp_dir: Path, run_id: str, owner_pid: int, owner_start: float, interval_s: float = 0.5) -> int:
    """Wait until the owner is gone, or its teardown left nothing; then stop what is left. Returns processes stopped.

    The owner comes from the command line, not the lock file: a teardown cut short may have
    removed the lock (rmtree goes first) while Ray processes still write into the temp dir.
    """
    from gpuconf.backends.localray.ownership import RunLock, run_processes, stop_run

    owner = RunLock(temp_dir, run_id, owner_pid, owner_start)
    sessions: list[int] = []
    while True:
        lock = RunLock.read(temp_dir)
        if lock is not None:
            sessions = lock.sessions
        if not owner.owner_alive():
            time.sleep(interval_s)  # the owner may have died mid-write: read the sessions once more
            lock = RunLock.read(temp_dir)
            return stop_run(run_id, lock.sessions if lock else sessions, temp_dir, grace_s=3.0)
        if not temp_dir.exists() and not run_processes(run_id, sessions, temp_dir):
            return 0  # torn down by its owner
        time.sleep(interval_s)


if __name__ == "__main__":
    watch(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
