"""Every listening socket of a live local run is reachable only through loopback.

A real head-only cluster from the shipped manifests is started in a child process (the network
namespace switch is for that thread's life: pytest's own stays where it is), with and without
the private network, and every TCP listener of its Ray processes and of its driver is read
from /proc. Without the private network the same check fails: Ray's gRPC servers listen on the
wildcard address, so it is the namespace that keeps them in.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from gpuconf.backends.localray.bind import Listener, exposed
from gpuconf.testing.subproc import run_bounded

pytestmark = [pytest.mark.slow, pytest.mark.processes]
ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, os, pathlib, sys
import ray
from gpuconf.backends.localray import bind
from gpuconf.backends.localray.launcher import start_cluster
from gpuconf.backends.localray.specs import specs_from_plan
from gpuconf.host.ports import free_port
from gpuconf.static.check import run_check
# Serve kills a proxy not ready within 5 s (serve.start then raises); under load it can take longer.
os.environ["RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S"] = "60"
plan = next(p for p in run_check([pathlib.Path("manifests")]).plans if p.target.name.startswith("RayCluster/"))
cluster = start_cluster(specs_from_plan(plan)[:1], run_id="gpuconf-loopback-%d" % os.getpid(),
                        private_network=sys.argv[1] == "private")
try:
    from ray import serve
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": free_port()})
    found = bind.listeners([n.proc.pid for n in cluster.nodes] + [os.getpid()])
    print("LISTENERS " + json.dumps([l.__dict__ for l in found]), flush=True)
finally:
    cluster.stop()
"""


def _listeners(tmp_path: Path, mode: str) -> list[Listener]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GPUCONF_RUN"))}
    done = run_bounded([sys.executable, "-c", CHILD, mode], 300, tmp_path / mode, cwd=ROOT, env=env)
    line = next((x for x in done.stdout.splitlines() if x.startswith("LISTENERS ")), None)
    assert done.returncode == 0 and line, done.stdout[-2000:] + done.stderr[-3000:]
    return [Listener(**d) for d in json.loads(line.removeprefix("LISTENERS "))]


def test_a_private_run_exposes_no_listener(tmp_path: Path) -> None:
    """GCS, raylet, agents, dashboard, Serve proxy and the driver: each on loopback or in a netns with only lo."""
    found = _listeners(tmp_path, "private")
    names = {s.process for s in found}
    assert {"gcs_server", "raylet"} <= names, names  # the check saw the run's services
    assert not exposed(found), [s.as_evidence() for s in exposed(found)]
    host_ns = os.readlink("/proc/self/ns/net")
    assert all(s.netns != host_ns for s in found), "a Ray process stayed in the host's network namespace"


def test_the_check_fails_on_a_run_on_the_host_network(tmp_path: Path) -> None:
    """The same run without the namespace: Ray's wildcard listeners are reported as exposed."""
    bad = exposed(_listeners(tmp_path, "host"))
    assert bad, "no listener off loopback: the check cannot fail here"
    assert {"gcs_server", "raylet"} <= {s.process for s in bad}, [s.as_evidence() for s in bad]
