"""Start a real multi-node Ray cluster on this host: one `ray start --block` process per pod.

`ray start` processes (not ray.cluster_utils) because they take exactly the
arguments KubeRay generates, so the embedded and kwok backends start a pod's
Ray node the same way, and a broken argument breaks here as it would in the pod.
Only what cannot be shared on one host is changed: ports are remapped to free
ones, services bind to loopback, the object store is kept small, each worker gets its
own Ray temp dir (as its own filesystem would give it) and a CUDA_VISIBLE_DEVICES that
stands for what its container would see.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from gpuconf import waits
from gpuconf.backends.localray import bind, procs, reaper
from gpuconf.backends.localray.gpus import HostGpu, host_gpus, partition
from gpuconf.backends.localray.hostenv import split_env
from gpuconf.backends.localray.ownership import RunLock, stop_run
from gpuconf.backends.localray.specs import NodeSpec
from gpuconf.host.ports import free_port
from gpuconf.live.auth import set_driver_auth
from gpuconf.model.plan import K8S_NODE_LABEL, POD_LABEL
from gpuconf.waits import WaitTimeout, wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
# The smallest object store Ray accepts is 75 MiB; nodes here only pass small probes.
OBJECT_STORE_BYTES = 100 * 1024 * 1024
_RAY_START_TIMEOUT = "timed out during startup"
_RAY_STARTED = "Ray runtime started."  # what `ray start` prints once its node is up (ray/scripts/scripts.py)
_PORT_OPTIONS = (
    "port",
    "dashboard-port",
    "metrics-export-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "ray-client-server-port",
    "runtime-env-agent-port",
)


@dataclass
class StartedNode:
    """A pod's Ray node as it came up (or failed to)."""

    spec: NodeSpec
    argv: list[str]
    env_overrides: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes]
    gpus: list[HostGpu]
    node_id: str | None = None
    resources: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    # The pod's env vars not applied on this host, each with why (gpuconf.backends.localray.hostenv).
    env_left_out: dict[str, str] = field(default_factory=dict)

    def log_tail(self, lines: int = 15) -> str:
        """The end of the node's `ray start` output."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def as_evidence(self) -> dict[str, Any]:
        """What was started and what Ray reported for it."""
        return {
            "pod": self.spec.pod,
            "k8s_node": self.spec.k8s_node,
            "group": self.spec.group,
            "node_id": self.node_id,
            "resources": self.resources,
            "labels": self.labels,
            "cuda_visible_devices": self.env_overrides.get("CUDA_VISIBLE_DEVICES"),
            "host_gpus": [g.uuid for g in self.gpus],
            "exit_code": self.exit_code,
        }


def _keep_python_sigterm() -> None:
    """Keep Ray's C++ failure signal handler out of this driver, unless the user asked for it.

    Once connected, it takes SIGTERM before Python does and, 3 s later, aborts the process
    whatever the teardown is doing (exit -6, no report). Without it SIGTERM unwinds as Ctrl-C.
    Ray reads the switch when it creates the driver's core worker.
    """
    from ray._private import ray_constants

    # Ray's own switch (read from the env when Ray is imported), set here for this process only:
    # the Ray processes it starts keep their handler, and their crash stack traces.
    if "RAY_DISABLE_FAILURE_SIGNAL_HANDLER" not in os.environ:
        ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True


@dataclass
class LocalRayCluster:
    """A running local cluster; `stop()` leaves no process, temp dir or port behind."""

    run_id: str
    temp_dir: Path
    gcs_address: str
    dashboard_url: str
    auth_env: dict[str, str]
    nodes: list[StartedNode]
    host_gpus: list[HostGpu]
    stage_s: dict[str, float] = field(default_factory=dict)
    start_modes: list[str] = field(default_factory=list)  # how each batch of workers was started
    lock: RunLock | None = None
    _stopped: bool = False

    @property
    def alive(self) -> list[StartedNode]:
        """Nodes that joined the cluster."""
        return [n for n in self.nodes if n.node_id]

    @property
    def failed(self) -> list[StartedNode]:
        """Nodes whose `ray start` exited or never joined."""
        return [n for n in self.nodes if not n.node_id]

    def serve_config(self, body: Any, model: str | None, client: Any) -> tuple[dict[str, Any], str]:
        """The Serve config as deployed on this host, and its HTTP URL (see deploy.localize_config)."""
        from gpuconf.live.serve import local_serve_config

        return local_serve_config(body, model, client)

    def node_views(self) -> list[Any]:
        """The joined nodes as the placement model sees them."""
        from gpuconf.model.raysched import RayNodeView

        return [RayNodeView(n.spec.pod, n.resources, n.labels) for n in self.alive]

    def never_joined(self) -> list[str]:
        """Pods whose `ray start` exited or never joined, with the last line of its log."""
        return [
            f"{n.spec.pod} (ray start exited {n.exit_code}: {n.log_tail(3).splitlines()[-1] if n.log_tail(3) else ''})"
            for n in self.failed
        ]

    def add_nodes(self, specs: list[NodeSpec]) -> list[StartedNode]:
        """Start worker nodes for pods that appeared since start (together, as at start)."""
        taken = {g.uuid for n in self.nodes for g in n.gpus}
        grants = partition([g for g in self.host_gpus if g.uuid not in taken], [s.gpus_held for s in specs])
        return _start_workers(self, specs, grants)

    def remove_node(self, pod: str, grace_s: float = 10.0) -> StartedNode | None:
        """Stop the worker node standing for `pod` (its pod was deleted) and forget it; None if unknown.

        Every process of the node's session goes (raylet, agents, workers); its GPUs are free again.
        """
        node = next((n for n in self.nodes if n.spec.pod == pod and not n.spec.is_head), None)
        if node is None:
            return None
        _stop_node(node, grace_s)
        self.nodes.remove(node)
        return node

    def connect(self) -> None:
        """Connect this process to the cluster as a driver (idempotent), within the ray_node tier.

        ray.init runs in a daemon thread that can be abandoned: it blocks in Ray's C code,
        beyond the reach of any Python timeout. Meanwhile the head is watched: its exit fails
        at once, with its log tail; so does the tier running out.
        """
        import ray

        if ray.is_initialized():
            return
        set_driver_auth(self.auth_env)
        _keep_python_sigterm()
        outcome: list[BaseException | None] = []

        def attempt() -> None:
            try:
                ray.init(
                    address=self.gcs_address,
                    # The head's address: a driver attaches to a raylet of its own IP.
                    _node_ip_address=_opt(head.argv, "node-ip-address", "127.0.0.1") if head else "127.0.0.1",
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                    configure_logging=False,
                )
                outcome.append(None)
            except BaseException as exc:  # handed to the waiting thread
                outcome.append(exc)

        head = self.nodes[0] if self.nodes else None
        limit = waits.timeout("ray_node")
        deadline = time.monotonic() + limit
        while True:
            outcome.clear()
            worker = threading.Thread(target=attempt, name="gpuconf-ray-init", daemon=True)
            worker.start()
            while worker.is_alive():
                worker.join(0.25)
                if head is not None and head.proc.poll() is not None:
                    head.exit_code = head.proc.returncode
                    raise RuntimeError(
                        f"the head's `ray start` exited with {head.exit_code} while this driver "
                        f"connected to {self.gcs_address}:\n{head.log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise WaitTimeout(
                        f"timed out after {limit:g}s (tier ray_node) waiting for this driver to "
                        f"connect to the GCS at {self.gcs_address}; head log:\n"
                        f"{head.log_tail() if head else ''}"
                    )
            error = outcome[0] if outcome else None
            if error is None:
                return
            if not isinstance(error, ConnectionError) or time.monotonic() > deadline:
                raise error
            ray.shutdown()  # a busy GCS can miss ray.init's own deadline: try again, inside ours
            time.sleep(1.0)

    def stop(self) -> int:
        """Disconnect, stop every process of the run and remove its temp dir; returns processes stopped.

        Runs to the end even when Ctrl-C or SIGTERM arrives meanwhile (they are held off until
        it is done); also registered with atexit, so an interrupted finalizer cannot skip it.
        """
        if self._stopped:
            return 0
        self._stopped = True
        atexit.unregister(self.stop)
        with _signals_held():
            try:
                import ray

                if ray.is_initialized():
                    ray.shutdown()
            except Exception:  # teardown goes on whatever the driver says
                pass
            stopped = 0
            try:
                stopped = procs.terminate([p for p in (_ps(n.proc.pid) for n in self.nodes) if p], grace_s=10.0)
            finally:  # whatever the first pass met, the sweep by session, marker and temp dir runs
                sessions = sorted({*(self.lock.sessions if self.lock else []), *(n.proc.pid for n in self.nodes)})
                stopped += stop_run(self.run_id, sessions, self.temp_dir, grace_s=3.0)  # removes the temp dir too
                set_driver_auth({key: None for key in self.auth_env})
        return stopped


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold off SIGINT and SIGTERM (main thread only) while a teardown runs; re-deliver SIGTERM after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = {sig: signal.signal(sig, lambda signum, frame: got.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if got:
            os.kill(os.getpid(), got[0])


def _exit_on_sigterm() -> None:
    """SIGTERM (CI cancel, `timeout`) unwinds like Ctrl-C, so finally blocks and atexit stop the cluster."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_exit)


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _ps(pid: int) -> Any:
    import psutil

    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def temp_tag(run_id: str) -> str:
    """The short tag of a run in its temp dir's name (/tmp/gpc-<tag>-XXXX)."""
    return run_id[-8:].replace("/", "_")


def start_cluster(
    specs: list[NodeSpec],
    run_id: str | None = None,
    before_head: Callable[[Path], None] | None = None,
    private_network: bool = False,
) -> LocalRayCluster:
    """Start the head, then every worker at once; wait until each has joined or failed.

    `before_head(temp_dir)` runs once the run's temp dir (removed with the run) exists, before any
    node starts: a backend writes there what the nodes read (e.g. an autoscaling config).
    `private_network`: first move this thread into a network namespace with only `lo`
    (gpuconf.backends.localray.bind), so no Ray listener is reachable from outside the host.
    """
    if not specs or not specs[0].is_head:
        raise ValueError("the first node to start must be the head")
    if private_network and (why_not := bind.isolate()):
        print(f"gpuconf: Ray listens on the host's network: {why_not}", file=sys.stderr)
    run_id = procs.new_run_id(run_id or os.environ.get(procs.RUN_ENV))
    # Ray's socket paths must stay short: a short folder directly under /tmp.
    temp_dir = Path(tempfile.mkdtemp(prefix=f"gpc-{temp_tag(run_id)}-", dir="/tmp"))
    gpus = host_gpus()
    grants = partition(gpus, [s.gpus_held for s in specs])
    auth_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    cluster = LocalRayCluster(run_id, temp_dir, "", "", auth_env, [], gpus)
    atexit.register(cluster.stop)
    _exit_on_sigterm()
    t0 = time.monotonic()
    try:
        cluster.lock = RunLock.create(temp_dir, run_id)
        reaper.spawn(temp_dir, run_id)  # stops the run even if this process is SIGKILLed or aborts
        if before_head is not None:
            before_head(temp_dir)
        head = _start_head(specs[0], grants[0], cluster)
        wait_until(
            lambda: _dashboard_up(cluster.dashboard_url, auth_env["RAY_AUTH_TOKEN"]) or _exited(head),
            f"the head's GCS and dashboard ({cluster.dashboard_url})",
            tier="ray_node",
            interval=0.5,
        )
        if head.proc.poll() is not None:
            head.exit_code = head.proc.returncode
            raise RuntimeError(f"the head's `ray start` exited with {head.exit_code}:\n{head.log_tail()}")
        cluster.stage_s["head_up"] = round(time.monotonic() - t0, 2)
        cluster.connect()
        _wait_joined(cluster, [head])
        _start_workers(cluster, specs[1:], grants[1:])
        cluster.stage_s["cluster_up"] = round(time.monotonic() - t0, 2)
        return cluster
    except BaseException:
        cluster.stop()
        raise


# Workers start together up to this load average per CPU, else one at a time (see _start_workers).
PARALLEL_STARTS_MAX_LOAD_PER_CPU = 2.0
STARTS_ENV = "GPUCONF_WORKER_STARTS"  # "parallel" or "serial" overrides the load rule
# A node whose raylet missed its start window is started again alone, up to this many times: on a
# host starved for minutes (load 15 on 2 cores) one retry was seen to miss it again.
_START_RETRIES = 2


def parallel_starts(load: float | None = None, cpus: int | None = None) -> bool:
    """Whether worker nodes start together: yes unless the host is already loaded.

    Under load each raylet waits 15 s (fixed in the raylet, node_manager.cc) for its dashboard
    agent to write its port file; agents importing together on a starved host miss it, and the
    retry one at a time then costs more than starting one at a time did (measured in docs/figures.md).
    """
    forced = os.environ.get(STARTS_ENV, "")
    if forced in ("parallel", "serial"):
        return forced == "parallel"
    load = os.getloadavg()[0] if load is None else load
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    return load <= PARALLEL_STARTS_MAX_LOAD_PER_CPU * cpus


def _start_workers(
    cluster: LocalRayCluster, specs: list[NodeSpec], grants: list[list[HostGpu]], together: bool | None = None
) -> list[StartedNode]:
    """Start the workers (together, or one at a time on a loaded host); wait until each has joined
    or failed; returns them in order.

    Each `ray start` gives its raylet 30 s to register with the GCS (`raylet_start_wait_time_s`,
    hard-coded in ray/_private/node.py: no Ray config or env var moves it). Nodes used to be
    started one at a time for it, but what made parallel starts miss it was a socket-path race
    (see worker_temp_dir), not the window: a raylet registers within seconds. A node that still
    misses it (a host far too busy, not a wrong manifest) is started again, alone (_START_RETRIES).
    """
    together = parallel_starts() if together is None else together
    cluster.start_modes.append("together" if together else "one at a time")
    pairs = list(zip(specs, grants, strict=False))
    batches = [pairs] if together else [[pair] for pair in pairs]
    started: list[StartedNode] = []
    for batch in batches:
        nodes = [_start_node(spec, grant, cluster, gcs_address=cluster.gcs_address) for spec, grant in batch]
        cluster.nodes.extend(nodes)
        if nodes:
            _wait_joined(cluster, nodes)
        for i, node in enumerate(nodes):
            for _ in range(_START_RETRIES):
                if node.node_id is not None or _RAY_START_TIMEOUT not in node.log_tail(40):
                    break
                cluster.nodes.remove(node)
                node = _start_node(node.spec, node.gpus, cluster, gcs_address=cluster.gcs_address)
                cluster.nodes.append(node)
                _wait_joined(cluster, [node])
            nodes[i] = node
        started += nodes
    return started


def _start_head(spec: NodeSpec, grant: list[HostGpu], cluster: LocalRayCluster) -> StartedNode:
    """Start the head and wait until its `ray start` says the node is up, or exits, before any driver
    connects. A head whose raylet missed its start window (a starved host: seen at load 13 with Go
    builds and two regression cases beside it) is stopped and started again, up to _START_RETRIES times.
    """
    for attempt in range(_START_RETRIES + 1):
        head = _start_node(spec, grant, cluster, gcs_address=None)
        cluster.nodes.append(head)
        cluster.gcs_address = f"127.0.0.1:{int(_opt(head.argv, 'port'))}"
        cluster.dashboard_url = f"http://127.0.0.1:{_opt(head.argv, 'dashboard-port')}"
        wait_until(
            partial(_reported_up, head),
            f"the head's `ray start` to report the node up ({head.log})",
            tier="ray_node",
            interval=0.5,
        )
        if not _exited(head) or _RAY_START_TIMEOUT not in head.log_tail(40) or attempt == _START_RETRIES:
            return head
        _stop_node(head, grace_s=10.0)
        cluster.nodes.remove(head)
    return head


def _stop_node(node: StartedNode, grace_s: float) -> None:
    """Stop every process of the node's session (its `ray start`, raylet, agents, workers)."""
    found = [p for p in (_ps(pid) for pid in procs.session_pids(node.proc.pid)) if p]
    procs.terminate(found, grace_s=grace_s)
    node.exit_code = node.proc.poll()


def _run_tmp(temp_dir: Path) -> Path:
    """The TMPDIR of the run's Ray processes: a folder of the run's own."""
    path = temp_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _start_node(spec: NodeSpec, grant: list[HostGpu], cluster: LocalRayCluster, gcs_address: str | None) -> StartedNode:
    argv = localize_argv(spec, gcs_address, cluster.temp_dir)
    env = dict(os.environ)
    overrides, left_out = split_env(spec.env)
    overrides.update(
        {
            procs.RUN_ENV: cluster.run_id,
            # What KubeRay sets in every Ray container; Ray turns it into the ray.io/node-group label.
            "RAY_NODE_TYPE_NAME": spec.group,
            "RAY_CLOUD_INSTANCE_ID": spec.pod,
            "GPUCONF_POD_NAME": spec.pod,
            "GPUCONF_NODE_NAME": spec.k8s_node,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])),
            # As in a Ray image, `python` is the interpreter that has Ray (Ray jobs run `python ...`).
            "PATH": os.pathsep.join(filter(None, [str(Path(sys.executable).parent), os.environ.get("PATH", "")])),
            "RAY_USAGE_STATS_ENABLED": "0",
            # Python's temp files (the dashboard's multiprocessing forkserver folder, which outlives a
            # killed process) go into the run's own folder, never the host's /tmp.
            "TMPDIR": str(_run_tmp(cluster.temp_dir)),
            **cluster.auth_env,
        }
    )
    visible = cuda_visible_for(spec, grant, bool(cluster.host_gpus))
    if visible is not None:
        overrides["CUDA_VISIBLE_DEVICES"] = visible
    env.update(overrides)
    log = cluster.temp_dir / f"{spec.pod}.log"
    proc = spawn_owned(cluster, argv, env, log)
    return StartedNode(spec, argv, overrides, log, proc, grant, env_left_out=left_out)


def spawn_owned(cluster: LocalRayCluster, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a process of the run in a session of its own, output to `log`, recorded in the run's lock.

    Its session is what its children cannot leave: the reaper and stop() find them all by it.
    """
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=str(REPO_ROOT),
        )
    if cluster.lock is not None:
        cluster.lock.add_session(proc.pid)
    return proc


def cuda_visible_for(spec: NodeSpec, grant: list[HostGpu], host_has_gpus: bool) -> str | None:
    """The CUDA_VISIBLE_DEVICES a node's processes start with (None: leave unset).

    On a GPU host a GPU pod sees the devices it was granted and every other pod
    sees none, as behind a device plugin, unless its image leaks them all
    (NVIDIA_VISIBLE_DEVICES=all). Without physical GPUs nothing is set and GPU
    pods carry logical GPUs only.
    """
    if not host_has_gpus:
        return None
    if grant:
        return ",".join(str(g.index) for g in grant)
    if spec.sees_all_gpus:
        return None
    return "" if spec.gpus_held == 0 else None


def localize_argv(spec: NodeSpec, gcs_address: str | None, temp_dir: Path) -> list[str]:
    """The pod's `ray start` argv, made to run beside the other nodes on this host."""
    words = list(spec.argv)
    if words[:2] == ["ray", "start"]:
        words = words[2:]
    out: list[str] = []
    seen: set[str] = set()
    for word in words:
        name, _eq, value = word[2:].partition("=") if word.startswith("--") else ("", "", "")
        if not name:
            out.append(word)  # a stray word stays: `ray start` must fail on it as in the pod
            continue
        if name in _HOST_PATH_OPTIONS:
            # A folder of the pod is not one of this host's: it goes into the run's own folder.
            if name != "temp-dir":
                out.append(f"--{name}={_run_subdir(temp_dir, name)}")
                seen.add(name)
            continue
        seen.add(name)
        if name == "address":
            out.append(f"--address={gcs_address}")
        elif name in _PORT_OPTIONS:
            out.append(f"--{name}={free_port()}")
        elif name == "dashboard-host":
            out.append("--dashboard-host=127.0.0.1")
        elif name == "labels":
            out.append("--labels=" + _merge_labels(value, spec))
        else:
            out.append(word)
    adds = {"node-ip-address": "127.0.0.1", "object-store-memory": str(OBJECT_STORE_BYTES)}
    # The log monitor only streams worker logs to drivers, and the run's drivers take none
    # (log_to_driver=False): gpuconf reads the log files. Left out, each node spares a polling process.
    adds["include-log-monitor"] = "false"
    if not spec.is_head:
        adds["temp-dir"] = str(worker_temp_dir(temp_dir))
    if spec.is_head:
        adds.update(
            {
                "port": str(free_port()),
                "dashboard-port": str(free_port()),
                "ray-client-server-port": str(free_port()),
                "temp-dir": str(temp_dir),
                "include-dashboard": "true",
                "dashboard-host": "127.0.0.1",
            }
        )
    adds.update(
        {
            p: str(free_port())
            for p in (
                "metrics-export-port",
                "dashboard-agent-listen-port",
                "dashboard-agent-grpc-port",
                "runtime-env-agent-port",
            )
        }
    )
    # A container without a GPU limit shows Ray no device; say so, since this host may have GPUs.
    adds["num-gpus"] = str(int(spec.planned_resources.get("GPU", 0)))
    for key, res in (("num-cpus", "CPU"), ("memory", "memory")):
        if res in spec.planned_resources:
            adds[key] = str(int(spec.planned_resources[res])) if res == "memory" else f"{spec.planned_resources[res]:g}"
    for key, value in adds.items():
        if key not in seen:
            out.append(f"--{key}={value}")
    if "labels" not in seen:
        out.append("--labels=" + _merge_labels("", spec))
    out.append("--disable-usage-stats")
    return [str(Path(sys.executable).with_name("ray")), "start", *out]


#: `ray start` options that name a folder on the node (a pod's, not this host's).
_HOST_PATH_OPTIONS = frozenset({"temp-dir", "plasma-directory", "object-spilling-directory"})


def _run_subdir(temp_dir: Path, name: str) -> Path:
    folder = temp_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def worker_temp_dir(temp_dir: Path) -> Path:
    """A worker node's own Ray temp dir under the run's (new for each start, short for Ray's sockets).

    A pod has its own filesystem. Nodes sharing the head's temp dir would pick their sockets as
    the first free `sockets/raylet.N` (ray/_private/node.py, _make_inc_temp): two nodes starting
    together can pick the same N, and the second raylet dies with `bind: Address already in use`,
    so its `ray start` times out. Unix socket paths must stay under 108 bytes, hence the short name.
    """
    return (
        Path(tempfile.mkdtemp(prefix="w", dir=temp_dir)) if temp_dir.is_dir() else temp_dir / f"w{secrets.token_hex(4)}"
    )


def _merge_labels(existing: str, spec: NodeSpec) -> str:
    pairs = [p for p in existing.split(",") if p.strip()] if existing and not existing.strip().startswith("{") else []
    if existing.strip().startswith("{"):
        pairs = [f"{k}={v}" for k, v in json.loads(existing).items()]
    pairs += [f"{POD_LABEL}={spec.pod}", f"{K8S_NODE_LABEL}={spec.k8s_node}"]
    return ",".join(pairs)


def _opt(argv: list[str], name: str, default: str | None = None) -> str:
    """The value of `--name=value` in argv; `default` when absent (None: it must be there)."""
    prefix = f"--{name}="
    found = next((w[len(prefix) :] for w in argv if w.startswith(prefix)), default)
    if found is None:
        raise ValueError(f"`ray start` has no --{name}=: {argv}")
    return found


def _exited(node: StartedNode) -> bool:
    return node.proc.poll() is not None


def _reported_up(node: StartedNode) -> bool:
    """The node's `ray start` printed that it is up, or exited."""
    return _RAY_STARTED in node.log_tail(80) or _exited(node)


def _dashboard_up(url: str, token: str) -> bool:
    request = urllib.request.Request(f"{url}/api/version", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _wait_joined(cluster: LocalRayCluster, nodes: list[StartedNode]) -> None:
    """Wait until each node has joined (found by its pod label) or its process exited."""
    import ray

    def settled() -> bool:
        by_pod = {n["Labels"].get(POD_LABEL): n for n in ray.nodes() if n.get("Alive")}
        for node in nodes:
            info = by_pod.get(node.spec.pod)
            if info and not node.node_id:
                node.node_id = info["NodeID"]
                node.resources = {k: float(v) for k, v in info["Resources"].items()}
                node.labels = dict(info.get("Labels") or {})
            if not node.node_id and node.proc.poll() is not None:
                node.exit_code = node.proc.returncode
        return all(n.node_id or n.exit_code is not None for n in nodes)

    try:
        wait_until(
            settled, f"Ray node(s) {', '.join(n.spec.pod for n in nodes)} to join", tier="ray_node", interval=0.5
        )
    except WaitTimeout as exc:
        missing = [f"{n.spec.pod}:\n{n.log_tail()}" for n in nodes if not n.node_id]
        raise WaitTimeout(f"{exc}\nnot joined:\n" + "\n".join(missing)) from None
