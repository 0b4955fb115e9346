"""A node Ray's autoscaler added is never leaked: SIGKILL the run's owner and its reaper stops that node too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from gpuconf.backends.localray.procs import RUN_ENV, marked_processes

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.processes]
ROOT = Path(__file__).resolve().parents[1]

# The owner: the scaled overlay's cluster, a task that needs a GPU worker, and a wait until one joins.
OWNER = """
import sys, time
from pathlib import Path
import ray
from gpuconf.backends.embedded.backend import start_embedded
from gpuconf.static.check import run_check
plan = sorted(run_check([Path("overlays/scaling")]).plans, key=lambda p: not p.target.name.startswith("RayCluster/"))[0]
live = start_embedded(plan, "embedded")
print("TEMP", live.serve.cluster.temp_dir, flush=True)

@ray.remote(num_cpus=0.1, num_gpus=1, resources={"gpu_worker": 0.001})
def hold():
    time.sleep(600)

ref = hold.remote()
deadline = time.monotonic() + 240
while time.monotonic() < deadline:
    added = [r for r in live.refresh().records.values() if r.group == "gpu-workers"]
    if added:
        print("SCALED", added[0].pod, flush=True)
        break
    time.sleep(1)
else:
    print("NOT SCALED", flush=True)
time.sleep(600)
"""


def _run_processes(run_id: str, temp_dir: str) -> list[int]:
    found = {p.pid for p in marked_processes(run_id)}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(temp_dir in arg for arg in proc.info["cmdline"] or []):
            found.add(proc.pid)
    return sorted(found)


def test_sigkilled_owner_leaves_no_autoscaled_node(tmp_path: Path) -> None:
    """Once the autoscaler has added a GPU worker, SIGKILL the owner: every process of the run is gone within 60 s."""
    run_id = f"gpuconf-scaled-kill-{os.getpid()}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}, RUN_ENV: run_id}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    err_log = tmp_path / "owner-stderr.log"
    proc = subprocess.Popen(
        [sys.executable, "-c", OWNER], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err_log.open("w"), text=True
    )
    temp_dir, scaled = "", ""
    deadline = time.monotonic() + 400
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("TEMP "):
                temp_dir = line.split(" ", 1)[1].strip()
            if line.startswith(("SCALED", "NOT SCALED")) or time.monotonic() > deadline:
                scaled = line.strip()
                break
        assert scaled.startswith("SCALED"), (
            f"the autoscaler added no GPU worker: {scaled!r}; the owner's stderr ends:\n{err_log.read_text()[-3000:]}"
        )
        assert temp_dir and _run_processes(run_id, temp_dir), "the run should be running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    end = time.monotonic() + 60
    left = _run_processes(run_id, temp_dir)
    while left and time.monotonic() < end:
        time.sleep(1)
        left = _run_processes(run_id, temp_dir)
    assert left == [], f"processes of the run left after the reaper's sweep: {left}"
    assert not Path(temp_dir).exists()
