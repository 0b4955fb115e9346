"""``up``, ``status`` and ``down`` of the realpods tier.

``up`` (outside the namespace) clears whatever a killed run left, checks that this machine can
run a sandbox, builds what is not cached yet (Go modules and Debian's mirror are reachable
from the host's network only, never from the namespace), creates the network namespace, then
runs the rest of ``up`` inside it (``nsenter --net=``): the kwok tier's control plane (reused,
with the NodeRestriction admission plugin added; it listens on the namespace's own loopback),
the two nodes (each kubelet with its own ``system:node:<name>`` certificate), cluster DNS, and
waits until both nodes are Ready and the GPU node advertises its fake GPUs. Any failure runs
``down``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from gpuconf.provision.kwok import build, procs
from gpuconf.provision.kwok.certs import Pki
from gpuconf.provision.kwok.controlplane import ControlPlane, State
from gpuconf.provision.kwok.versions import VERSIONS_FILE, load_versions, parse_env_file
from gpuconf.provision.realpods import host, identity, images
from gpuconf.provision.realpods.layout import (
    FAKE_GPU_COUNT,
    NETNS_PATH,
    NODES,
    nsenter_net,
    state_dir,
)
from gpuconf.provision.realpods.node import Node

GPU_RESOURCE = "nvidia.com/gpu"
REQUIRED_TOOLS = (
    "nsenter",
    "unshare",
    "ip",
    "containerd",
    "ctr",
    "runc",
    "containerd-shim-runc-v2",
    "dnsmasq",
    "debootstrap",
    "mount",
    "umount",
    "sysctl",
    "tar",
)


class Skip(RuntimeError):
    """This machine cannot run the tier; the message is the one line to print."""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


#: Admission plugins added to the kube-apiserver's defaults: kubelets here hold node identities.
ADMISSION_PLUGINS = ("NodeRestriction",)


class RealpodsControlPlane(ControlPlane):
    """The kwok tier's control plane plus NodeRestriction (not on by default in kube-apiserver).

    Its ``--authorization-mode`` is already ``Node,RBAC``; with NodeRestriction a kubelet may
    change only its own Node and the pods bound to it, as on a real cluster. It runs in the
    realpods namespace (``up`` starts it there), not in the kwok tier's.
    """

    own_netns = False

    def _apiserver_argv(self, comps: dict[str, build.Component], state: State, pki: Pki) -> list[str]:
        return [
            *super()._apiserver_argv(comps, state, pki),
            f"--enable-admission-plugins={','.join(ADMISSION_PLUGINS)}",
        ]


def controlplane(state: Path | None = None) -> ControlPlane:
    """The control plane, with its state in ``<state>/controlplane``."""
    return RealpodsControlPlane((state or state_dir()) / "controlplane", log=_log)


def kubeconfig_path(state: Path | None = None) -> Path:
    """The admin kubeconfig (valid inside the namespace only)."""
    return controlplane(state).kubeconfig


def preflight() -> None:
    """Raise :class:`Skip` when this machine cannot run a sandbox at all."""
    if os.geteuid() != 0:
        raise Skip("realpods: skipped: needs root (namespaces, cgroups, mounts)")
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        raise Skip(f"realpods: skipped: missing {', '.join(missing)} (make realpods-up installs the Debian packages)")
    if not host.cgroup_hierarchies():
        raise Skip("realpods: skipped: no cgroup v1 hierarchies under /sys/fs/cgroup (this tier drives cgroupfs v1)")
    probe = host.sh(["unshare", "--net", "--mount", "--pid", "--fork", "true"], check=False)
    if probe.returncode != 0:
        raise Skip(f"realpods: skipped: cannot create namespaces: {probe.stderr.strip()[:200]}")


def prepare() -> dict[str, float]:
    """Build every binary and image the tier needs that is not cached (on the host's network).

    Returns the seconds each step took (about 0 when cached): the cold path's figures.
    """
    times: dict[str, float] = {}
    t0 = time.monotonic()
    build.ensure_built(log=_log)
    times["controlplane_build_s"] = time.monotonic() - t0
    for comp in build.node_components(load_versions()).values():
        times[f"{comp.name}_build_s"] = build.ensure_component(comp, _log)
    t0 = time.monotonic()
    images.ensure_pause_image(build.node_components(load_versions())["fakegpu"].path("pause"))
    images.ensure_ray_image(parse_env_file(VERSIONS_FILE).get("REALPODS_DEBIAN_SUITE", "bookworm"))
    times["images_s"] = time.monotonic() - t0
    _log("[realpods] prepared: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    return times


def up() -> Path:
    """Bring the tier up (from outside the namespace); return the admin kubeconfig."""
    preflight()
    down(quiet=True)
    start = time.monotonic()
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    prepare()
    try:
        host.create_netns()
        rc = os.spawnvp(
            os.P_WAIT,
            "nsenter",
            [*nsenter_net(), sys.executable, "-m", "gpuconf.provision.realpods", "_inside", str(start)],
        )
        if rc != 0:
            raise RuntimeError(f"realpods up failed inside the namespace (exit {rc}); logs in {state}")
    except BaseException:
        _log("[realpods] up failed; tearing down")
        down()
        raise
    return kubeconfig_path(state)


def up_inside(started: float) -> None:
    """The part of ``up`` that runs inside the network namespace."""
    state = state_dir()
    cp = controlplane(state)
    cp.up()
    versions = load_versions()
    comps = build.node_components(versions)
    for comp in comps.values():
        build.ensure_component(comp, _log)
    bins = {"kubelet": comps["kubelet"].path("kubelet"), "fakegpu": comps["fakegpu"].path("fakegpu")}
    t0 = time.monotonic()
    pause = images.ensure_pause_image(comps["fakegpu"].path("pause"))
    suite = parse_env_file(VERSIONS_FILE).get("REALPODS_DEBIAN_SUITE", "bookworm")
    ray = images.ensure_ray_image(suite)
    _log(f"[realpods] images ready ({time.monotonic() - t0:.1f}s): {pause.name}, {ray.name}")
    record: list[procs.Proc] = []
    holders: dict[str, int] = {}
    kubelets: dict[str, list[str]] = {}

    def save() -> None:
        (state / "realpods.json").write_text(
            json.dumps({"procs": [p.to_json() for p in record], "holders": holders, "kubelets": kubelets}, indent=2)
        )

    server = _server(cp)
    nodes = [
        Node(spec, i, state, bins, identity.node_kubeconfig(cp.pki, server, spec.name, spec.dir(state) / "identity"))
        for i, spec in enumerate(NODES)
    ]
    for node in nodes:
        node.write_configs()
        record.append(node.start_holder())
        holders[node.spec.name] = node.holder_pid
        save()
        record.append(node.start_containerd())
        save()
        t1 = time.monotonic()
        for tarball in (pause, ray):
            node.import_image(tarball)
        _log(f"[realpods] {node.spec.name}: images imported ({time.monotonic() - t1:.1f}s)")
        record.append(node.start_kubelet())
        kubelets[node.spec.name] = [*node.enter(), *node.kubelet_argv]
        save()
        if node.spec.gpu:
            record.append(node.start_fakegpu())
            save()
    dns_dir = state / "dns"
    dns_dir.mkdir(exist_ok=True)
    record.append(
        procs.spawn(
            "dns",
            [sys.executable, "-m", "gpuconf.provision.realpods.dns", str(cp.kubeconfig), str(dns_dir)],
            dns_dir / "dns.log",
        )
    )
    save()
    wait_nodes_ready(cp, nodes)
    _log(
        f"[realpods] up in {time.monotonic() - started:.1f}s: nodes {', '.join(n.spec.name for n in nodes)} Ready, "
        f"{FAKE_GPU_COUNT} fake GPUs on the GPU node"
    )


def _server(cp: ControlPlane) -> str:
    saved = cp.load_state()
    if saved is None:
        raise RuntimeError(f"the control plane recorded no state in {cp.dir}")
    return saved.server


def node_kubeconfig(node_name: str, state: Path | None = None) -> Path:
    """The kubeconfig of ``node_name``'s kubelet (its own ``system:node:`` identity)."""
    spec = next(s for s in NODES if s.name == node_name)
    return spec.dir(state or state_dir()) / "identity" / "kubelet.kubeconfig"


def wait_nodes_ready(cp: ControlPlane, nodes: list[Node], timeout: float = 240.0) -> None:
    """Both nodes Ready and the GPU node's allocatable GPUs advertised by the plugin."""
    from kubernetes import client

    core = client.CoreV1Api(cp.api_client())
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        ok = True
        for node in nodes:
            try:
                obj = core.read_node(node.spec.name, _request_timeout=5)
            except Exception as err:  # not registered yet
                ok, last = False, f"{node.spec.name}: {err.__class__.__name__}"
                continue
            status = obj.status
            conditions = (status.conditions if status else None) or []
            ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
            gpus = (status.allocatable or {}).get(GPU_RESOURCE, "0") if status else "0"
            if not ready or (node.spec.gpu and gpus != str(FAKE_GPU_COUNT)):
                ok, last = False, f"{node.spec.name}: ready={ready} {GPU_RESOURCE}={gpus}"
        if ok:
            return
        time.sleep(1)
    logs = "\n".join(procs.log_tail(n.logs / "kubelet.log", 15) for n in nodes)
    raise RuntimeError(f"nodes not Ready after {timeout:.0f}s ({last})\n{logs}")


def restart_kubelet(node_name: str, while_stopped: Callable[[], None] | None = None) -> procs.Proc:
    """Stop one node's kubelet and start it again with the same command line (pods keep running).

    ``while_stopped`` runs between the two, as whatever happens on a node while its kubelet is down.
    """
    from gpuconf.provision.realpods.node import spawn_entered

    path = state_dir() / "realpods.json"
    data = json.loads(path.read_text())
    name = f"{node_name}/kubelet"
    entry = next(p for p in data["procs"] if p["name"] == name)
    old = procs.Proc.from_json(entry)
    procs.stop(old)
    if while_stopped is not None:
        while_stopped()
    argv = data["kubelets"][node_name]
    cut = argv.index("--") + 1
    new = spawn_entered(name, argv[:cut], argv[cut:], Path(old.log))
    data["procs"] = [new.to_json() if p["name"] == name else p for p in data["procs"]]
    path.write_text(json.dumps(data, indent=2))
    return new


def status() -> dict[str, object]:
    """What runs: each recorded process, and whether the namespace exists."""
    state = state_dir()
    out: dict[str, object] = {"netns": NETNS_PATH.exists(), "kubeconfig": str(kubeconfig_path(state))}
    try:
        data = json.loads((state / "realpods.json").read_text())
    except (OSError, ValueError):
        data = {"procs": []}
    out["procs"] = {p["name"]: procs.alive(procs.Proc.from_json(p)) for p in data["procs"]}
    out["controlplane"] = controlplane(state).status()
    return out


def down(quiet: bool = False) -> None:
    """Kill pods and daemons, unmount, delete the namespace and cgroups, remove the state (not logs)."""
    state = state_dir()
    try:
        data = json.loads((state / "realpods.json").read_text())
    except (OSError, ValueError):
        data = {"procs": [], "holders": {}}
    # Pods and shims first (cgroups, then each node's mount namespace), then every daemon.
    host.remove_cgroups()
    for pid in data.get("holders", {}).values():
        host.kill_all(host.pids_in_namespace(Path(f"/proc/{pid}/ns/mnt"), "mnt"))
    for entry in reversed(data.get("procs", [])):
        procs.stop(procs.Proc.from_json(entry))
    if (state / "controlplane").exists():
        controlplane(state).down()
    host.delete_netns()  # anything a killed run left in the namespace
    host.remove_cgroups()
    host.unmount_under(state)
    for child in state.iterdir() if state.exists() else []:
        if child.name == "nodes":
            for node in child.iterdir():
                for sub in node.iterdir():
                    if sub.name != "logs":
                        shutil.rmtree(sub, ignore_errors=True) if sub.is_dir() else sub.unlink()
        elif child.name not in ("controlplane", "dns"):
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
    if not quiet:
        _log("[realpods] down: namespace, nodes, cgroups and control plane removed")
