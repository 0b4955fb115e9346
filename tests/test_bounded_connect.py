"""The driver's connect can be abandoned: a head that dies while ray.init blocks fails fast, with its log tail."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.processes

# Run apart: the abandoned ray.init thread must not share a process with other tests.
SCRIPT = r"""
import subprocess, sys, time
from pathlib import Path
from gpuconf.backends.localray.launcher import LocalRayCluster, StartedNode
from gpuconf.host.ports import free_port

tmp = Path(sys.argv[1])
log = tmp / "head.log"
with open(log, "wb") as fh:  # a head that prints its last words, then dies after ray.init has begun
    proc = subprocess.Popen(["sh", "-c", "echo 'raylet: fatal: cannot bind'; sleep 2; exit 3"], stdout=fh)
head = StartedNode(None, ["ray", "start"], {}, log, proc, [])
cluster = LocalRayCluster("gpuconf-connect-test", tmp, f"127.0.0.1:{free_port()}", "", {}, [head], [])
t0 = time.monotonic()
try:
    cluster.connect()
except RuntimeError as exc:
    print(f"FAILED-FAST {time.monotonic() - t0:.1f}s: {exc}", flush=True)
    sys.stdout.flush()
    import os; os._exit(0)  # the ray.init thread stays blocked in C; nothing to join
print("CONNECTED?!")
"""


def test_dead_head_fails_connect_fast(tmp_path: Path) -> None:
    """ray.init against a GCS that never comes up: the head's exit ends the wait in seconds, not the 90 s tier."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - start
    out = proc.stdout + proc.stderr
    assert "FAILED-FAST" in proc.stdout, out[-2000:]
    assert "exited with 3" in proc.stdout and "cannot bind" in proc.stdout, out[-2000:]
    print(f"failed fast in {elapsed:.1f} s")  # a figure, not an assertion: the messages prove the cause
