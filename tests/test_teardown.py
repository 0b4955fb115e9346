"""Teardown leaves no Ray process, temp dir or port behind: after a normal stop, after Ctrl-C, after SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpuconf.backends.localray.launcher import temp_tag
from gpuconf.backends.localray.procs import RUN_ENV, marked_processes
from gpuconf.testing.stages import terminal_signals
from tests.head_runs import HeadRun

pytestmark = [pytest.mark.slow, pytest.mark.processes]
ROOT = Path(__file__).resolve().parents[1]


def test_stop_leaves_nothing_behind(private_head_run: HeadRun) -> None:
    """A head-only cluster from the shipped manifests, Serve on it: after stop(), no marked process, no
    temp dir, no GCS port (read by the child right after stop(), before its own exit could clean up)."""
    run = private_head_run
    assert run.marked_while_up > 0, f"the cluster should have been running\n{run.context()}"
    assert run.stopped == {"left": [], "temp_dir_left": False, "gcs_port_free": True}, run.context()
    assert run.returncode == 0, run.context()


def test_ctrl_c_during_a_run_leaves_nothing_behind(tmp_path: Path) -> None:
    """SIGINT to a conformance run once its Ray nodes are up: pytest tears the cluster down on the way out."""
    run_id = f"gpuconf-ctrlc-{os.getpid()}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}, RUN_ENV: run_id}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/placement",
            "-q",
            "-p",
            "no:cacheprovider",
            "--backend=embedded",
            f"--report-dir={tmp_path}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=terminal_signals,  # Ctrl-C as a terminal sends it, even when this run's SIGINT is ignored
    )
    deadline = time.monotonic() + 240
    # Wait until at least two raylets (head and a worker) are up, then interrupt.
    while time.monotonic() < deadline and proc.poll() is None:
        raylets = [p for p in marked_processes(run_id) if "raylet" in " ".join(p.cmdline())]
        if len(raylets) >= 2:
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the run ended before its cluster came up"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    # Nothing may be left once the run is over: its own teardown, or (when that was cut short,
    # e.g. the process aborted) the run's reaper within a few seconds of the owner's exit.
    settle = time.monotonic() + 20
    leftovers = [p for p in marked_processes(run_id) if p.pid != proc.pid]
    while leftovers and time.monotonic() < settle:
        time.sleep(0.5)
        leftovers = [p for p in marked_processes(run_id) if p.pid != proc.pid]
    assert leftovers == [], (
        [p.cmdline()[:3] for p in leftovers],
        proc.returncode,
        out[-3000:].decode(errors="replace"),
    )
    while list(Path("/tmp").glob(f"gpc-{temp_tag(run_id)}-*")) and time.monotonic() < settle:
        time.sleep(0.5)
    assert list(Path("/tmp").glob(f"gpc-{temp_tag(run_id)}-*")) == [], (proc.returncode, out[-2000:])


def test_sigterm_after_connect_unwinds_through_a_long_teardown(host_head_run: HeadRun) -> None:
    """Once the driver is connected, SIGTERM still unwinds in Python: no abort (-6) mid-teardown.

    Ray's C++ failure signal handler, if left in the driver, takes SIGTERM first and aborts the
    process 3 s later, whatever the teardown (5 s here) is doing.
    """
    run = host_head_run
    assert run.marked_while_up > 0, run.context()
    assert (run.returncode, run.stopped) == (
        128 + signal.SIGTERM,
        {"left": [], "temp_dir_left": False, "gcs_port_free": True},
    ), run.context()
    assert marked_processes(run.run_id) == []
