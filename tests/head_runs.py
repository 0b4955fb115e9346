"""Two head-only runs of the shipped manifests, each in a child process, read by several tests.

A Ray head is the dearest thing these tests start, so one run serves every test that reads it:
- `private`: in a network namespace with only `lo` (the switch is for the child's thread: pytest's
  own stays where it is); Serve started; every listener of its Ray processes and of its driver;
  then `stop()` and what it left behind (tests/test_loopback.py, tests/test_teardown.py).
- `host`: the same on the host's network; then SIGTERM with the driver connected, and a teardown
  longer than the 3 s Ray's C++ failure handler would give it (the same two test files).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconf.backends.localray.bind import Listener
from gpuconf.testing.subproc import run_bounded

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, os, pathlib, signal, socket, sys, time
from gpuconf.backends.localray import bind
from gpuconf.backends.localray.launcher import _exit_on_sigterm, start_cluster
from gpuconf.backends.localray.procs import marked_processes
from gpuconf.backends.localray.specs import specs_from_plan
from gpuconf.host.ports import free_port
from gpuconf.static.check import run_check
# Serve kills a proxy not ready within 5 s (serve.start then raises); under load it can take longer.
os.environ["RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S"] = "60"
mode, run_id = sys.argv[1], sys.argv[2]
plan = next(p for p in run_check([pathlib.Path("manifests")]).plans if p.target.name.startswith("RayCluster/"))
_exit_on_sigterm()
cluster = start_cluster(specs_from_plan(plan)[:1], run_id=run_id, private_network=mode == "private")
try:
    from ray import serve
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": free_port()})
    found = bind.listeners([n.proc.pid for n in cluster.nodes] + [os.getpid()])
    up = {"listeners": [l.__dict__ for l in found], "marked": len(marked_processes(run_id))}
    print("UP " + json.dumps(up), flush=True)
    if mode == "host":
        # The signal CI's cancel or `timeout` sends, taken by whatever handler the process has now.
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(300)
finally:
    if mode == "host":
        time.sleep(5)  # a teardown longer than the 3 s Ray's C++ handler would give it
    temp, gcs = cluster.temp_dir, cluster.gcs_address
    cluster.stop()
    host, port = gcs.rsplit(":", 1)
    with socket.socket() as s:
        port_free = s.connect_ex((host, int(port))) != 0
    left = [p.cmdline()[:3] for p in marked_processes(run_id)]
    print("STOPPED " + json.dumps({"left": left, "temp_dir_left": temp.exists(), "gcs_port_free": port_free}), flush=True)
"""


@dataclass(frozen=True)
class HeadRun:
    """What a head-only run printed: its listeners while up, its marked processes, what stop() left."""

    mode: str
    run_id: str
    returncode: int
    output: str
    listeners: list[Listener]
    marked_while_up: int
    stopped: dict[str, Any] | None

    def context(self) -> str:
        """The tail of the child's output, for assertion messages."""
        return f"{self.mode} run, exit {self.returncode}:\n{self.output[-4000:]}"


def _line(text: str, prefix: str) -> dict[str, Any] | None:
    line = next((x for x in text.splitlines() if x.startswith(prefix)), None)
    return json.loads(line.removeprefix(prefix)) if line else None


def head_run(mode: str, log_dir: Path) -> HeadRun:
    """Run the child in `mode` ("private" or "host") to its end (bounded) and read what it printed."""
    run_id = f"gpuconf-head-{mode}-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GPUCONF_RUN"))}
    done = run_bounded([sys.executable, "-c", CHILD, mode, run_id], 300, log_dir, cwd=ROOT, env=env)
    up = _line(done.stdout, "UP ") or {"listeners": [], "marked": 0}
    return HeadRun(
        mode,
        run_id,
        done.returncode,
        done.stdout + done.stderr,
        [Listener(**d) for d in up["listeners"]],
        up["marked"],
        _line(done.stdout, "STOPPED "),
    )
