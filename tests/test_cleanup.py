"""`gpuconf cleanup` stops only runs whose owner is gone, finds their processes by session, removes their temp dirs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from gpuconf.backends.localray.ownership import RunLock, cleanup_orphans


def _session_of_sleepers() -> subprocess.Popen[bytes]:
    """A session leader with a child that carries no marker and a title that names nothing (like ray::DashboardAgent)."""
    env = {k: v for k, v in os.environ.items() if k != "GPUCONF_RUN_ID"}
    return subprocess.Popen(["sh", "-c", "sleep 300 & exec sleep 301"], start_new_session=True, env=env)


def _members(sid: int) -> list[int]:
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except (psutil.Error, OSError):
            continue
    return out


def _dead_owner() -> tuple[int, float]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    start = psutil.Process(proc.pid).create_time()
    proc.wait()
    return proc.pid, start


def test_cleanup_removes_orphans_and_keeps_live_runs(tmp_path: Path) -> None:
    """An orphaned run (owner exited): its whole session stopped, temp dir gone. A live run: untouched."""
    orphan_dir = Path(tempfile.mkdtemp(prefix="gpc-orphan-", dir=tmp_path))
    live_dir = Path(tempfile.mkdtemp(prefix="gpc-live-", dir=tmp_path))
    orphan, live = _session_of_sleepers(), _session_of_sleepers()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (len(_members(orphan.pid)) < 2 or len(_members(live.pid)) < 2):
            time.sleep(0.05)
        pid, start = _dead_owner()
        RunLock(orphan_dir, "gpuconf-orphan", pid, start, [orphan.pid]).save()
        RunLock.create(live_dir, "gpuconf-live").add_session(live.pid)
        # a reused pid is not the owner: same pid as the live test process, other start time
        stale_dir = Path(tempfile.mkdtemp(prefix="gpc-stale-", dir=tmp_path))
        RunLock(stale_dir, "gpuconf-stale", os.getpid(), psutil.Process().create_time() - 1000, []).save()

        report = cleanup_orphans(tmp_path)

        assert sorted(r[0] for r in report.removed) == ["gpuconf-orphan", "gpuconf-stale"]
        assert [r[0] for r in report.kept] == ["gpuconf-live"]
        assert dict((r[0], r[2]) for r in report.removed)["gpuconf-orphan"] == 2
        orphan.wait(timeout=10)
        assert _members(orphan.pid) == [] and not orphan_dir.exists() and not stale_dir.exists()
        assert live.poll() is None and len(_members(live.pid)) == 2 and live_dir.exists()
    finally:
        for proc in (orphan, live):
            for pid in _members(proc.pid):
                psutil.Process(pid).kill()
            proc.wait(timeout=10)


def test_cli_says_what_it_removed(tmp_path: Path) -> None:
    """`gpuconf cleanup` prints each removed run; with nothing left behind it says so."""
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconf", "cleanup"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "no local run left behind" in proc.stdout or "removed run" in proc.stdout or "kept run" in proc.stdout
