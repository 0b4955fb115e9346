"""Drive the twins on a live cluster: deploy them per model (through the session's ServeApps), probe them, time them.

No pytest here: ``benchmarks/conftest.py`` builds one ``BenchRunner`` per module and the tests ask
it for measurements, which it caches (the gate reuses what the latency tests measured).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpuconf.bench.client import TwinClient
from gpuconf.bench.gate import GateDecision
from gpuconf.bench.profiles import BenchConfig, Profile
from gpuconf.bench.results import Measurement, Overhead
from gpuconf.bench.twins import (
    NODE_GROUP_LABEL,
    TWIN_APPS,
    TWIN_DEPLOYMENTS,
    CpuHost,
    TwinError,
    build_twin_config,
    candidates_from_plan,
    candidates_from_records,
    cpu_sizing,
    pick_cpu_host,
    route_of,
)
from gpuconf.live.apps import ServeApps
from gpuconf.live.observe import PodRecord, ReplicaObservation
from gpuconf.live.replicas import ReplicaProbes
from gpuconf.live.verdicts import has_physical_gpu

# HTTP timeout of one bench request beyond its own budget (a slow first forward, a busy runner).
_REQUEST_SLACK_S = 120.0


def _floats(xs: Any) -> list[float]:
    """A list of sample floats from a /bench answer (an absent field, from an older replica, is [])."""
    return [float(x) for x in xs or []]


class BenchFailed(RuntimeError):
    """The twins could not be deployed or measured as intended; the message says what was seen."""


def measurement_of(model: str, batch: int, twin: str, body: dict[str, Any]) -> Measurement:
    """A Measurement from a twin's ``/bench`` answer; BenchFailed when it served another model."""
    if body.get("model") != model:
        raise BenchFailed(f"the {twin} twin served model {body.get('model')!r}, expected {model!r}")
    return Measurement(
        model=model,
        batch=batch,
        twin=twin,
        device=str(body["device"]),
        device_name=str(body.get("device_name")),
        timer=str(body.get("timer")),
        torch_threads=body.get("torch_threads"),
        flops_per_sample=int(body["flops_per_sample"]),
        samples_ms=_floats(body["samples_ms"]),
        copy_samples_ms=_floats(body.get("copy_samples_ms")),
        host_samples_ms=_floats(body.get("host_samples_ms")),
    )


def add_graph(m: Measurement, body: dict[str, Any]) -> None:
    """Keep a ``/bench?graph=1`` answer's replays in ``m``, or why there are none."""
    used = bool(body.get("graph"))
    m.graph_note = str(body.get("graph_note") or ("" if used else "the replica ignored graph=1"))
    if used:
        m.graph_samples_ms = _floats(body["samples_ms"])
        m.graph_host_samples_ms = _floats(body.get("host_samples_ms"))


@dataclass
class BenchRunner:
    """The twins of one benchmark module, and everything measured on them."""

    handle: Any  # the backend's Serve target, for deploy()
    http_url: str  # Serve's HTTP address (fixed by the first deploy of the session)
    records: dict[str, PodRecord]
    serve_body: Any
    ray_nodes: list[Any]
    config: BenchConfig
    profile: Profile
    explain: dict[str, str]
    host_gpus: int
    source_app: str | None = None
    source_deployment: str | None = None
    host: CpuHost = field(init=False)
    host_note: str = field(init=False, default="")
    num_cpus: float = field(init=False)
    torch_threads: int = field(init=False)
    model: str | None = None
    probes: dict[str, ReplicaObservation] = field(default_factory=dict)
    measurements: dict[tuple[str, int, str], Measurement] = field(default_factory=dict)
    gates: dict[tuple[str, int], GateDecision] = field(default_factory=dict)
    overhead: Overhead | None = None
    deploy_s: dict[str, float] = field(default_factory=dict)  # model -> seconds to RUNNING
    failed: dict[str, str] = field(default_factory=dict)  # model -> why its twins did not come up
    _clients: dict[str, TwinClient] = field(default_factory=dict)
    # The session's Serve configs: the twins deploy through it, so the user's come back when needed.
    apps: ServeApps | None = None
    # The cluster's observation of the running apps (LiveCluster.observe_apps): probes the twins from inside.
    observe_apps: Callable[..., tuple[Any, ReplicaProbes]] | None = None

    def __post_init__(self) -> None:
        # Pinned to a node that is live now: a planned group whose pod never joined would leave
        # the CPU twin unplaceable, so the choice is made among the Ray nodes that joined.
        self.host = pick_cpu_host(candidates_from_records(self.records.values()), self.config.cpu_group)
        try:
            planned = pick_cpu_host(candidates_from_plan(self.ray_nodes), self.config.cpu_group)
        except TwinError:
            planned = self.host
        if planned.group != self.host.group:
            self.host_note = f" (the plan's choice, {planned.group}, has no live Ray node)"
        self.num_cpus, self.torch_threads = cpu_sizing(
            self.host, self.config.cpu_num_cpus, self.config.cpu_torch_threads
        )

    # -- deployment ---------------------------------------------------------------------------

    def twin_config(self, model: str) -> dict[str, Any]:
        """The Serve config of the three twins serving ``model``.

        On a real cluster the twins run gpuconf's own code: its uploaded ``entrypoints/``.
        """
        own_code = getattr(self.handle, "gpuconf_code_uri", None)
        uri = own_code() if callable(own_code) else None
        config = build_twin_config(
            self.serve_body,
            model,
            self.host,
            self.num_cpus,
            self.torch_threads,
            self.source_app,
            self.source_deployment,
        )
        for app in config["applications"] if uri else []:
            app.setdefault("runtime_env", {}).setdefault("working_dir", uri)
        return config

    def ensure(self, model: str) -> None:
        """Deploy the twins for ``model`` unless they already serve it, then probe each one."""
        if self.model == model and (self.apps is None or self.apps.is_running(f"bench-twins:{model}")):
            return
        if model in self.failed:  # one failed deploy per model, not one per test
            raise BenchFailed(self.failed[model])
        from gpuconf.live.serve import DeployFailed, deploy
        from gpuconf.waits import WaitTimeout

        started = time.monotonic()
        self.model = None
        try:
            if self.apps is not None:
                self.apps.deploy(f"bench-twins:{model}", self.twin_config(model))
            else:
                deploy(self.handle, self.twin_config(model), None, self.explain)
            self.probes = self._probe_twins(model)
            self._check_cpu_placement()
        except (DeployFailed, WaitTimeout, BenchFailed) as exc:
            self.failed[model] = f"the benchmark twins for {model} did not come up: {exc}"
            raise BenchFailed(self.failed[model]) from None
        self.deploy_s[model] = round(time.monotonic() - started, 2)
        self.model = model

    def _probe_twins(self, model: str) -> dict[str, ReplicaObservation]:
        """Each twin's replica, probed from inside like any user replica."""
        if self.observe_apps is None:
            raise BenchFailed("no way to probe the twins: the runner was built without observe_apps")
        wanted = {f"{TWIN_APPS[t]}/{TWIN_DEPLOYMENTS[t]}": 1 for t in TWIN_APPS}
        _, probes = self.observe_apps(self.twin_config(model), wanted)
        by_app = {o.app: o for o in probes.replicas}
        silent = [t for t in TWIN_APPS if TWIN_APPS[t] not in by_app]
        if silent:
            raise BenchFailed(f"the {', '.join(silent)} twin(s) did not answer the probe: {probes.unanswered}")
        return {t: by_app[TWIN_APPS[t]] for t in TWIN_APPS}

    def _check_cpu_placement(self) -> None:
        for twin in ("cpu", "noop"):
            obs = self.probes[twin]
            # The labels the replica read for its own node are the evidence, not what we asked for.
            group = (obs.probe.get("node_labels") or {}).get(NODE_GROUP_LABEL)
            if group != self.host.group or obs.pod is None or obs.pod.gpu_node:
                where = f"{obs.pod.pod} (GPU node: {obs.pod.gpu_node})" if obs.pod else "an unknown node"
                raise BenchFailed(
                    f"the {twin} twin landed on {where} in group {group!r}, not on group "
                    f"{self.host.group}: its label_selector was not honoured"
                )

    def client_close(self) -> None:
        """Close the keep-alive connections to the twins."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def client(self, twin: str) -> TwinClient:
        """A keep-alive client of one twin."""
        if twin not in self._clients:
            self._clients[twin] = TwinClient(self.http_url, route_of(twin))
        return self._clients[twin]

    # -- facts --------------------------------------------------------------------------------

    def gpu_twin_physical(self) -> bool:
        """The GPU twin's replica sees a CUDA device."""
        obs = self.probes.get("gpu")
        return bool(obs and has_physical_gpu(obs.probe))

    def versions(self) -> dict[str, Any]:
        """Driver, torch and Ray versions as the GPU twin's replica reports them."""
        p = self.probes["gpu"].probe if "gpu" in self.probes else {}
        return {
            "driver": p.get("driver_version"),
            "torch": (p.get("torch") or {}).get("version"),
            "cuda": (p.get("torch") or {}).get("cuda_version"),
            "ray": p.get("ray_version"),
        }

    def where(self, twin: str) -> str:
        """``pod (group) on k8s node`` of a twin's replica."""
        obs = self.probes.get(twin)
        if obs is None or obs.pod is None:
            return "?"
        return f"{obs.pod.pod} (group {obs.pod.group}) on {obs.pod.k8s_node}"

    # -- measuring ----------------------------------------------------------------------------

    def in_replica(self, model: str, batch: int, twin: str) -> Measurement:
        """Model time inside the twin's replica (cached): a warm-up request that also estimates
        the latency, then as many timed forwards as the profile's count and budget allow."""
        key = (model, batch, twin)
        if key in self.measurements:
            return self.measurements[key]
        self.ensure(model)
        budget = self.profile.in_replica
        client = self.client(twin)
        copies = twin == "gpu"
        # Warm-up: the first forward of a batch size pays for allocation and kernel selection.
        first = client.bench(batch, iters=2, warmup=1, copies=False, timeout_s=_REQUEST_SLACK_S * 5)
        estimate = min(first["samples_ms"])
        iters, warmup = budget.plan(estimate * (2 if copies and first["device"].startswith("cuda") else 1))
        timeout_s = _REQUEST_SLACK_S + (iters + warmup) * estimate * 3 / 1e3
        body = client.bench(batch, iters=iters, warmup=warmup, copies=copies, timeout_s=timeout_s)
        m = measurement_of(model, batch, twin, body)
        if m.on_cuda:
            # The same forwards replayed as a CUDA graph: what is left once per-kernel launches go.
            add_graph(m, client.bench(batch, iters=iters, warmup=warmup, copies=False, timeout_s=timeout_s, graph=True))
        self.measurements[key] = m
        return m

    def e2e_plan(self, m: Measurement) -> tuple[int, int]:
        """``(rounds, warmup_rounds)`` for the end-to-end rounds of a measurement."""
        serve_ms = self.overhead.summary.p50_ms if self.overhead and self.overhead.samples_ms else 10.0
        return self.profile.end_to_end.plan(m.in_replica.mean_ms + serve_ms)

    def e2e_timeout_s(self, m: Measurement) -> float:
        """HTTP timeout of one ``/infer`` request."""
        return _REQUEST_SLACK_S + m.in_replica.max_ms * 3 / 1e3

    def context(self) -> dict[str, str]:
        """The lines above the report's tables."""
        v = self.versions()
        gpu = next((m for m in self.measurements.values() if m.twin == "gpu"), None)
        cpu = next((m for m in self.measurements.values() if m.twin == "cpu"), None)
        gpu_dev = f"{gpu.device} ({gpu.device_name})" if gpu else "?"
        physical = "sees a physical GPU" if self.gpu_twin_physical() else "sees no physical GPU"
        return {
            "profile": self.profile.name,
            "gpu_twin": f"GPU twin `{TWIN_APPS['gpu']}`: the user's deployment as configured, on {self.where('gpu')}; "
            f"model ran on {gpu_dev}; the replica {physical} (host GPUs: {self.host_gpus})",
            "cpu_twin": f"CPU twin `{TWIN_APPS['cpu']}`: on {self.where('cpu')}, num_cpus {self.num_cpus:g}, "
            f"label_selector ray.io/node-group={self.host.group}{self.host_note}, torch threads "
            f"{cpu.torch_threads if cpu else self.torch_threads}",
            "versions": f"torch {v['torch']} (CUDA build {v['cuda'] or 'none'}), Ray {v['ray']}, "
            f"NVIDIA driver {v['driver'] or 'none'}",
        }
