"""Bring the loopback control plane up and down.

``up`` builds (or reuses) the binaries, makes a PKI and kubeconfigs, then starts, in order,
each process on 127.0.0.1 with a free port, inside the tier's network namespace (only `lo`, see
``netns``), waiting for each to answer its health endpoint:

    etcd → kube-apiserver → kube-controller-manager, kube-scheduler, kwok
         → (KubeRay CRDs applied) → KubeRay operator → (node pools applied)

Everything lives in the state directory (``$GPUCONF_STATE``, default
``~/.cache/gpuconf/kwok-state``): ``state.json`` (pids, ports), ``logs/``, ``pki/``,
``kubeconfig`` (admin), ``etcd/`` (data). ``down`` stops every recorded process that is still
the binary we started, and removes everything but ``logs/``. ``up`` on a running control
plane only says so (and applies any node pools given).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from gpuconf.host.ports import free_ports
from gpuconf.provision.kwok import build, netns, procs
from gpuconf.provision.kwok.certs import Pki, ensure_pki
from gpuconf.provision.kwok.kubeconfig import write_kubeconfig
from gpuconf.provision.kwok.paths import state_dir
from gpuconf.provision.kwok.stages import write_kwok_config
from gpuconf.waits import WaitTimeout, wait_until

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

SERVICE_CIDR = "10.96.0.0/16"
# kwok's pod IPs: on loopback, so the local Ray node standing for a pod can take its pod's IP
# (KubeRay's autoscaler v1 matches Ray nodes to pods by IP) and traffic stays on this host.
POD_CIDR = "127.64.0.0/16"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node=fake"
KWOK_ENABLED_CRDS = ("PortForward", "Exec", "Logs")
NODE_LEASE_SECONDS = 40
#: The loopback ports ``up`` picks (free ones, each time).
PORTS = (
    "etcd",
    "etcd-peer",
    "apiserver",
    "controller-manager",
    "scheduler",
    "kwok",
    "kuberay-metrics",
    "kuberay-probe",
)
#: Start order; ``down`` stops in reverse.
ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kuberay-operator")

Log = Callable[[str], None]
T = TypeVar("T")


def _print(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def http_get(url: str, context: ssl.SSLContext | None = None, timeout: float = 3.0) -> tuple[int, str]:
    """GET ``url``; return (status, body). HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


@dataclass
class State:
    """What ``state.json`` records about a running control plane."""

    ports: dict[str, int] = field(default_factory=dict)
    procs: list[procs.Proc] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    def to_json(self) -> str:
        return json.dumps(
            {"ports": self.ports, "procs": [p.to_json() for p in self.procs], "versions": self.versions}, indent=2
        )

    @classmethod
    def from_json(cls, text: str) -> State:
        data = json.loads(text)
        return cls(
            data.get("ports", {}), [procs.Proc.from_json(p) for p in data.get("procs", [])], data.get("versions", {})
        )


class ControlPlane:
    """The loopback control plane whose state lives in one directory."""

    #: Whether it makes and enters the kwok tier's network namespace; a subclass that is started
    #: inside a namespace of its own (realpods) says no.
    own_netns = True

    def __init__(self, state: Path | None = None, *, log: Log = _print) -> None:
        self.dir = state or state_dir()
        self.log = log

    # ------------------------------------------------------------------ paths & state

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (``<state>/kubeconfig``)."""
        return self.dir / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def pki(self) -> Pki:
        return Pki(self.dir / "pki")

    def load_state(self) -> State | None:
        """The recorded state, or None when there is none (or it is unreadable)."""
        try:
            return State.from_json(self.state_file.read_text())
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def _save(self, state: State) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(state.to_json())
        tmp.replace(self.state_file)

    # ------------------------------------------------------------------ queries

    def status(self) -> dict[str, bool]:
        """Each recorded process → whether it is still running."""
        state = self.load_state()
        return {p.name: procs.alive(p) for p in state.procs} if state else {}

    def apiserver_ready(self, state: State | None = None) -> bool:
        """True when the recorded kube-apiserver answers ``/readyz`` with ``ok``."""
        state = state or self.load_state()
        if state is None or "apiserver" not in state.ports:
            return False
        if self.own_netns:
            netns.enter()  # it listens inside the tier's namespace
        try:
            code, body = http_get(state.server + "/readyz", self._client_tls())
        except OSError:
            return False
        return code == 200 and body.strip() == "ok"

    def is_up(self) -> bool:
        """Every component recorded and running, and the apiserver ready."""
        state = self.load_state()
        return state is not None and self._all_running(state) and self.apiserver_ready(state)

    @staticmethod
    def _all_running(state: State) -> bool:
        return [p.name for p in state.procs] == list(ORDER) and all(procs.alive(p) for p in state.procs)

    def api_client(self) -> ApiClient:
        """A kubernetes ``ApiClient`` for the admin kubeconfig (kubernetes is imported lazily: slow)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    # ------------------------------------------------------------------ up / down

    def up(self, node_files: Iterable[Path] = ()) -> bool:
        """Start the control plane; False (and nothing started) if it is already up."""
        node_files = list(node_files)
        # Downloads and builds need the host's network: done before any namespace is entered.
        comps = build.ensure_built(log=self.log)
        # Every component starts inside the tier's namespace (only `lo`), and so do its clients.
        if self.own_netns:
            netns.ensure()
            netns.enter()
        state = self.load_state()
        if state is not None and self._all_running(state):
            # Every process runs: a slow /readyz means a busy machine, not a reason to restart.
            self._wait(
                lambda: self.apiserver_ready(state),
                "the running kube-apiserver's /readyz",
                self.logs / "kube-apiserver.log",
            )
            self.log(f"[up] control plane already up (kubeconfig {self.kubeconfig})")
            self._apply_nodes(node_files)
            return False
        if state is not None:
            self.log("[up] found a stale or partial control plane; stopping it first")
            self.down()
        start = time.monotonic()
        try:
            self._start_all(comps, node_files, start)
        except BaseException:
            self.log(f"[up] failed; stopping what was started (logs kept in {self.logs})")
            self.down()
            raise
        return True

    def down(self) -> list[str]:
        """Stop every recorded process still running; remove the state (not the logs)."""
        state = self.load_state()
        stopped: list[str] = []
        for proc in reversed(state.procs if state else []):
            if procs.stop(proc):
                stopped.append(proc.name)
                self.log(f"[down] stopped {proc.name} (pid {proc.pid})")
        if self.dir.exists():
            for child in self.dir.iterdir():
                if child.name == "logs":
                    continue
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        if not stopped:
            self.log("[down] nothing was running")
        if self.own_netns and netns.delete_if_unused():
            self.log(f"[down] deleted network namespace {netns.NAME}")
        return stopped

    # ------------------------------------------------------------------ internals

    def _client_tls(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        ctx.load_cert_chain(str(self.pki.client_cert("admin")), str(self.pki.client_key("admin")))
        return ctx

    def _start_all(self, comps: dict[str, build.Component], node_files: list[Path], start: float) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        pki = ensure_pki(self.dir / "pki")
        state = State(
            ports=dict(zip(PORTS, free_ports(len(PORTS)), strict=False)),
            versions={c.name: c.version for c in comps.values()},
        )
        self._save(state)
        self._write_kubeconfigs(state, pki)
        port = state.ports
        insecure = ssl._create_unverified_context()  # self-signed serving certs, loopback only
        for name, argv, url, tls, expect in (
            ("etcd", self._etcd_argv(comps, state), f"http://127.0.0.1:{port['etcd']}/health", None, '"health":"true"'),
            ("kube-apiserver", self._apiserver_argv(comps, state, pki),
             f"{state.server}/readyz", self._client_tls(), "ok"),
            ("kube-controller-manager", self._kcm_argv(comps, state, pki),
             f"https://127.0.0.1:{port['controller-manager']}/healthz", insecure, "ok"),
            ("kube-scheduler", self._scheduler_argv(comps, state),
             f"https://127.0.0.1:{port['scheduler']}/healthz", insecure, "ok"),
        ):  # fmt: skip
            self._start(state, name, argv, url, tls, expect)
        self._wait_default_service_account()

        from gpuconf.provision.kwok.crds import install_crds

        api = self.api_client()
        t0 = time.monotonic()
        names_applied = install_crds(api, comps["kuberay"].dir / "crd")
        self.log(f"[up] KubeRay CRDs established: {', '.join(names_applied)} ({time.monotonic() - t0:.1f}s)")
        # kwok watches its PortForward/Exec/Logs objects from the start: their CRDs go in first.
        names_applied = install_crds(api, build.kwok_crds(comps["kwok"]))
        self.log(f"[up] kwok CRDs established: {', '.join(names_applied)}")
        self._start(
            state, "kwok", self._kwok_argv(comps, state), f"http://127.0.0.1:{port['kwok']}/healthz", None, "ok"
        )
        self._start(
            state,
            "kuberay-operator",
            self._operator_argv(comps, state),
            f"http://127.0.0.1:{port['kuberay-probe']}/readyz",
            None,
            "ok",
            env={"KUBECONFIG": str(self.kubeconfig)},
        )
        self._apply_nodes(node_files)
        self.log(f"[up] control plane up in {time.monotonic() - start:.1f}s; kubeconfig {self.kubeconfig}")

    def _start(
        self,
        state: State,
        name: str,
        argv: list[str],
        health_url: str,
        tls: ssl.SSLContext | None,
        expect: str,
        env: dict[str, str] | None = None,
    ) -> None:
        t0 = time.monotonic()
        proc = procs.spawn(name, argv, self.logs / f"{name}.log", env=(os.environ | env) if env else None)
        state.procs.append(proc)
        self._save(state)

        def probe() -> bool:
            code, body = http_get(health_url, tls)
            if code != 200 or expect not in body:
                raise RuntimeError(f"GET {health_url} -> {code} {body.strip()[:300]}")
            return True

        def exited() -> str | None:
            return None if procs.alive(proc) else f"{name} (pid {proc.pid}) exited"

        self._wait(probe, f"{name} to answer {health_url}", Path(proc.log), fail_fast=exited)
        self.log(f"[up] {name} ready ({time.monotonic() - t0:.1f}s, pid {proc.pid})")

    @staticmethod
    def _wait(probe: Callable[[], T], desc: str, log: Path, fail_fast: Callable[[], str | None] | None = None) -> T:
        """``wait_until`` (tier ``kube``) whose failure also shows the tail of ``log``."""
        try:
            return wait_until(probe, desc, tier="kube", fail_fast=fail_fast)
        except WaitTimeout as err:
            raise WaitTimeout(f"{err}\n{procs.log_tail(log)}") from err

    def _wait_default_service_account(self) -> None:
        """The ServiceAccount admission plugin needs it; it shows the controllers work."""
        from kubernetes import client

        t0 = time.monotonic()
        core = client.CoreV1Api(self.api_client())
        self._wait(
            lambda: core.read_namespaced_service_account("default", "default"),
            "service account default/default (created by kube-controller-manager)",
            self.logs / "kube-controller-manager.log",
        )
        self.log(f"[up] controllers running: default/default service account exists ({time.monotonic() - t0:.1f}s)")

    def _apply_nodes(self, node_files: list[Path]) -> None:
        if not node_files:
            return
        from gpuconf.provision.kwok.nodes import apply_node_pools

        names = apply_node_pools(self.api_client(), node_files)
        self.log(f"[up] nodes applied: {', '.join(names)}")

    def _write_kubeconfigs(self, state: State, pki: Pki) -> None:
        write_kubeconfig(
            self.kubeconfig,
            server=state.server,
            ca_cert=pki.ca_cert,
            client_cert=pki.client_cert("admin"),
            client_key=pki.client_key("admin"),
        )
        for who in ("controller-manager", "scheduler"):
            write_kubeconfig(
                self.dir / "kubeconfigs" / f"{who}.kubeconfig",
                server=state.server,
                ca_cert=pki.ca_cert,
                client_cert=pki.client_cert(who),
                client_key=pki.client_key(who),
                user=who,
            )

    # ------------------------------------------------------------------ command lines

    def _etcd_argv(self, comps: dict[str, build.Component], state: State) -> list[str]:
        client = f"http://127.0.0.1:{state.ports['etcd']}"
        peer = f"http://127.0.0.1:{state.ports['etcd-peer']}"
        return [
            str(comps["etcd"].path("etcd")),
            "--name=gpuconf",
            f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=gpuconf={peer}",
            "--unsafe-no-fsync",  # a throw-away cluster: durability is not worth the disk waits
            "--log-level=warn",
        ]

    def _apiserver_argv(self, comps: dict[str, build.Component], state: State, pki: Pki) -> list[str]:
        return [
            str(comps["kubernetes"].path("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{state.ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # kwok's nodes have a Hostname address nobody resolves; their InternalIP is loopback.
            "--kubelet-preferred-address-types=InternalIP",
            f"--secure-port={state.ports['apiserver']}",
            f"--cert-dir={self.dir / 'pki' / 'apiserver-generated'}",
            f"--tls-cert-file={pki.apiserver_cert}",
            f"--tls-private-key-file={pki.apiserver_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            # Endpoints may not hold a loopback address; nothing here needs the
            # kubernetes Service's endpoints, so do not maintain them.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ]

    def _kcm_argv(self, comps: dict[str, build.Component], state: State, pki: Pki) -> list[str]:
        kubeconfig = self.dir / "kubeconfigs" / "controller-manager.kubeconfig"
        return [
            str(comps["kubernetes"].path("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={state.ports['controller-manager']}",
            f"--cert-dir={self.dir / 'pki' / 'controller-manager-generated'}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--root-ca-file={pki.ca_cert}",
            f"--service-account-private-key-file={pki.sa_key}",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--cluster-name=gpuconf-kwok",
            "--profiling=false",
        ]

    def _scheduler_argv(self, comps: dict[str, build.Component], state: State) -> list[str]:
        kubeconfig = self.dir / "kubeconfigs" / "scheduler.kubeconfig"
        return [
            str(comps["kubernetes"].path("kube-scheduler")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={state.ports['scheduler']}",
            f"--cert-dir={self.dir / 'pki' / 'scheduler-generated'}",
            "--leader-elect=false",
            "--profiling=false",
        ]

    def _kwok_argv(self, comps: dict[str, build.Component], state: State) -> list[str]:
        config = write_kwok_config(comps["kwok"].dir / "stages", self.dir / "kwok.yaml")
        return [
            str(comps["kwok"].path("kwok")),
            f"--kubeconfig={self.kubeconfig}",
            f"--config={config}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}",
            f"--server-address=127.0.0.1:{state.ports['kwok']}",
            # The API server reaches a node's "kubelet" (kwok's server) at InternalIP:node-port for
            # port-forward, exec and logs; kwok answers them from its PortForward/Exec/Logs objects.
            "--node-ip=127.0.0.1",
            f"--cidr={POD_CIDR}",
            f"--node-port={state.ports['kwok']}",
            f"--enable-crds={','.join(KWOK_ENABLED_CRDS)}",
            f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
        ]

    def _operator_argv(self, comps: dict[str, build.Component], state: State) -> list[str]:
        return [
            str(comps["kuberay"].path("ray-operator")),
            f"--metrics-addr=127.0.0.1:{state.ports['kuberay-metrics']}",
            f"--health-probe-bind-address=127.0.0.1:{state.ports['kuberay-probe']}",
            "--enable-leader-election=false",
            "--log-stdout-encoder=console",
        ]
