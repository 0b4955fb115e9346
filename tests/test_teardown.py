"""Teardown leaves no Ray process, temp dir or port behind: after a normal stop, and after Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpuconf.backends.localray.launcher import start_cluster, temp_tag
from gpuconf.backends.localray.procs import RUN_ENV, marked_processes
from gpuconf.backends.localray.specs import specs_from_plan
from gpuconf.static.check import run_check
from gpuconf.testing.stages import terminal_signals

pytestmark = [pytest.mark.slow, pytest.mark.processes]
ROOT = Path(__file__).resolve().parents[1]


def _port_free(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) != 0


def test_stop_leaves_nothing_behind() -> None:
    """A head-only cluster from the shipped manifests: after stop(), no marked process, no temp dir, no GCS port."""
    plan = next(p for p in run_check([ROOT / "manifests"]).plans if p.target.name.startswith("RayCluster/"))
    head = specs_from_plan(plan)[:1]
    cluster = start_cluster(head, run_id="gpuconf-teardown-test")
    assert marked_processes("gpuconf-teardown-test"), "the cluster should be running"
    temp, gcs = cluster.temp_dir, cluster.gcs_address
    cluster.stop()
    assert marked_processes("gpuconf-teardown-test") == []
    assert not temp.exists()
    assert _port_free(gcs)


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


SIGTERM_CHILD = """
import pathlib, sys, time
from gpuconf.backends.localray.launcher import _exit_on_sigterm, start_cluster
from gpuconf.backends.localray.specs import specs_from_plan
from gpuconf.static.check import run_check
plan = next(p for p in run_check([pathlib.Path("manifests")]).plans if p.target.name.startswith("RayCluster/"))
_exit_on_sigterm()
cluster = start_cluster(specs_from_plan(plan)[:1], run_id=sys.argv[1])
try:
    cluster.connect()
    print("CONNECTED", flush=True)
    time.sleep(300)
finally:
    time.sleep(5)  # a teardown longer than the 3 s Ray's C++ handler would give it
    cluster.stop()
    print("STOPPED", flush=True)
"""


def test_sigterm_after_connect_unwinds_through_a_long_teardown() -> None:
    """Once the driver is connected, SIGTERM still unwinds in Python: no abort (-6) mid-teardown.

    Ray's C++ failure signal handler, if left in the driver, takes SIGTERM first and aborts the
    process 3 s later, whatever the teardown is doing.
    """
    run_id = f"gpuconf-sigterm-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GPUCONF_RUN"))}
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_CHILD, run_id],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[bytes] = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(b"CONNECTED"):
            break
    assert proc.poll() is None, b"".join(lines)[-3000:].decode(errors="replace")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=180)
    text = (b"".join(lines) + out).decode(errors="replace")
    assert (proc.returncode, "STOPPED" in text) == (128 + signal.SIGTERM, True), (proc.returncode, text[-3000:])
    assert marked_processes(run_id) == []
