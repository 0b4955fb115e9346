"""One real node: a mount namespace, containerd, kubelet and (on the GPU node) the fake GPU plugin.

Each node's processes share a mount namespace (held by a ``sleep``), in which the node's own
folder is bound over ``/var/lib/kubelet``: the device-plugin folder, the pod-resources socket
and the volume mounts are then per node, and none of the kubelet's mounts reach the host
(propagation ``slave``). All of them run in the tier's network namespace (``nsenter --net=``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from gpuconf.provision.kwok import procs
from gpuconf.provision.realpods import images, nvidia_runtime
from gpuconf.provision.realpods.host import create_cgroup, sh
from gpuconf.provision.realpods.layout import (
    CLUSTER_DOMAIN,
    DEVICE_PLUGIN_DIR,
    DNS_IP,
    FAKE_GPU_COUNT,
    NETNS_PATH,
    PAUSE_IMAGE,
    NodeSpec,
)

KUBELET_DIR = Path("/var/lib/kubelet")
CNI_BIN = "/usr/lib/cni"  # Debian's containernetworking-plugins put them here, not /opt/cni/bin


@dataclass(frozen=True)
class NodePorts:
    """The kubelet's serving and healthz ports (each node its own)."""

    kubelet: int
    healthz: int


def node_ports(index: int) -> NodePorts:
    """Ports of the ``index``-th node."""
    return NodePorts(10250 + 10 * index, 10248 + 10 * index)


def containerd_config(spec: NodeSpec, d: Path) -> str:
    """containerd 1.6 (config version 2) for one node: own root, state, socket, CNI and runc root.

    The GPU node runs containers through the fake NVIDIA runtime (see ``nvidia_runtime``).
    """
    runtime = d / "nvidia-runc" if spec.gpu else Path("/usr/sbin/runc")
    return f"""version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # No CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj below ours.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{runtime}"
        Root = "{d}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{d}/cni/net.d"
"""


def cni_config(spec: NodeSpec, d: Path) -> dict[str, object]:
    """A bridge with the node's own subnet; routed (not masqueraded) inside the namespace."""
    return {
        "cniVersion": "0.4.0",
        "name": f"gpuconf-{spec.name}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": spec.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(d / "cni" / "ipam"),
                    "ranges": [[{"subnet": spec.subnet, "gateway": spec.gateway}]],
                    # Pods reach the other node's subnet, the nodes and the DNS through the bridge.
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "loopback"},
        ],
    }


def kubelet_config(spec: NodeSpec, d: Path, ports: NodePorts) -> dict[str, object]:
    """The KubeletConfiguration (field names checked: an unknown one is silently dropped)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # The API server dials InternalIP:port for logs, exec and port-forward.
        "address": spec.ip,
        "port": ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": spec.ip,
        "healthzPort": ports.healthz,
        # Reachable only inside the namespace; the API server holds no kubelet client cert.
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": spec.cgroup_root,
        "cgroupsPerQOS": True,
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDNS": [DNS_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(d / "resolv.conf"),
        "containerRuntimeEndpoint": f"unix://{d}/containerd.sock",
        "podLogsDir": str(d / "pod-logs"),
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "nodeStatusReportFrequency": "10s",
        "enableServer": True,
        "maxPods": 30,
    }


def allocation_log(node_dir: Path) -> Path:
    """The fake GPU plugin's record of every Allocate answer (JSON lines; gone at ``down``)."""
    return node_dir / "fakegpu-allocations.jsonl"


def pod_resources_socket(node_dir: Path) -> Path:
    """The kubelet's pod-resources socket, as the host sees it (the node's folder is its /var/lib/kubelet)."""
    return node_dir / "kubelet" / "pod-resources" / "kubelet.sock"


def plugin_socket(node_dir: Path) -> Path:
    """The fake GPU plugin's socket (its endpoint ``fakegpu.sock``), as the host sees it."""
    return node_dir / "kubelet" / DEVICE_PLUGIN_DIR.relative_to(KUBELET_DIR) / "fakegpu.sock"


def spawn_entered(name: str, prefix: list[str], argv: list[str], log: Path) -> procs.Proc:
    """Start ``prefix + argv`` where ``prefix`` (nsenter, unshare) execs into ``argv[0]``.

    The recorded binary is ``argv[0]``'s, so that ``procs.alive`` and ``procs.stop`` know it;
    this waits (briefly) until the pid has exec'd into it.
    """
    started = procs.spawn(name, [*prefix, *argv], log)
    proc = dataclasses.replace(started, exe=os.path.realpath(shutil.which(argv[0]) or argv[0]))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not procs.alive(proc):
        if not Path(f"/proc/{proc.pid}").exists() or (procs.alive(started) is False and _exited(proc.pid)):
            break
        time.sleep(0.05)
    return proc


def _exited(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


class Node:
    """Start and stop one node's processes; ``procs`` are recorded by the caller."""

    def __init__(self, spec: NodeSpec, index: int, state: Path, bins: dict[str, Path], kubeconfig: Path) -> None:
        self.spec = spec
        self.ports = node_ports(index)
        self.dir = spec.dir(state)
        self.bins = bins
        self.kubeconfig = kubeconfig

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    def write_configs(self) -> None:
        """containerd, CNI and kubelet configuration files in the node's folder."""
        d = self.dir
        for sub in ("logs", "cni/net.d", "kubelet", "pod-logs", "runc"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "containerd.toml").write_text(containerd_config(self.spec, d))
        if self.spec.gpu:
            source = Path(nvidia_runtime.__file__).read_text()
            # -I: no site-packages, no environment: the shim execs this for every runc call.
            (d / "nvidia-runc").write_text(f"#!{sys.executable} -I\n{source}")
            (d / "nvidia-runc").chmod(0o755)
        (d / "cni" / "net.d" / "10-gpuconf.conflist").write_text(json.dumps(cni_config(self.spec, d), indent=2))
        (d / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(self.spec, d, self.ports)))
        (d / "resolv.conf").write_text(f"nameserver {DNS_IP}\n")

    def start_holder(self) -> procs.Proc:
        """The node's mount namespace, with its own folder over /var/lib/kubelet."""
        KUBELET_DIR.mkdir(parents=True, exist_ok=True)
        _, base = images.host_python()
        # containerd 1.6 pins pod network namespaces under /run/netns: keep them in the node's folder.
        (self.dir / "netns").mkdir(exist_ok=True)
        binds = [
            (self.dir / "kubelet", KUBELET_DIR, ""),
            (self.dir / "netns", Path("/run/netns"), ""),
            (base, Path(images.SHARED_PYTHON), "ro,"),
            (images.host_site_packages(), Path(images.SHARED_SITE), "ro,"),
        ]
        for _src, dest, _ro in binds:
            dest.mkdir(parents=True, exist_ok=True)
        # The host's Python for the pods (read-only), and this node's own /var/lib/kubelet.
        script = " && ".join(
            f"mount --bind {src} {dest} && mount -o remount,{ro}bind {dest}" for src, dest, ro in binds
        )
        script += " && exec sleep infinity"
        prefix = ["nsenter", f"--net={NETNS_PATH}", "--", "unshare", "--mount", "--propagation", "slave", "--"]
        # nsenter, unshare and sh all exec: the pid ends up as the sleep that holds the namespace.
        proc = spawn_entered(
            f"{self.spec.name}/mountns", [*prefix, "sh", "-c", script], ["sleep"], self.logs / "mountns.log"
        )
        if not procs.alive(proc):
            raise RuntimeError(
                f"{self.spec.name}: the mount namespace did not come up\n{procs.log_tail(self.logs / 'mountns.log')}"
            )
        self.holder_pid = proc.pid
        return proc

    def enter(self) -> list[str]:
        """The prefix that runs a command in this node's mount namespace and the tier's netns."""
        return ["nsenter", f"--net={NETNS_PATH}", f"--mount=/proc/{self.holder_pid}/ns/mnt", "--"]

    def start_containerd(self) -> procs.Proc:
        """The node's own containerd (a kubelet kills every pod in its runtime it does not manage)."""
        create_cgroup(self.spec.cgroup_root)
        argv = [shutil.which("containerd") or "containerd", "--config", str(self.dir / "containerd.toml")]
        proc = spawn_entered(f"{self.spec.name}/containerd", self.enter(), argv, self.logs / "containerd.log")
        sock = self.dir / "containerd.sock"
        _wait_for(
            lambda: sock.exists() and self.ctr(["version"], check=False).returncode == 0,
            f"{self.spec.name} containerd socket",
            self.logs / "containerd.log",
            proc,
        )
        return proc

    def ctr(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``ctr`` against this node's containerd (namespace k8s.io)."""
        return sh([*self.enter(), "ctr", "-a", str(self.dir / "containerd.sock"), "-n", "k8s.io", *args], check=check)

    def import_image(self, tarball: Path) -> None:
        """Import a docker-save tarball into this node's containerd."""
        self.ctr(["images", "import", "--no-unpack", str(tarball)])

    def start_kubelet(self) -> procs.Proc:
        """The kubelet, labelled and tainted for its role."""
        labels = [f"kubernetes.io/hostname={self.spec.name}"]
        argv = [
            str(self.bins["kubelet"]),
            f"--config={self.dir / 'kubelet.yaml'}",
            f"--kubeconfig={self.kubeconfig}",
            f"--root-dir={KUBELET_DIR}",
            f"--hostname-override={self.spec.name}",
            f"--node-ip={self.spec.ip}",
        ]
        if self.spec.gpu:
            labels += ["gpu-node=true", "nvidia.com/gpu.present=true", "gpuconf.io/fake-gpu=true"]
            argv.append("--register-with-taints=nvidia.com/gpu=present:NoSchedule")
        argv.append(f"--node-labels={','.join(labels)}")
        self.kubelet_argv = argv
        return spawn_entered(f"{self.spec.name}/kubelet", self.enter(), argv, self.logs / "kubelet.log")

    def start_fakegpu(self) -> procs.Proc:
        """The fake GPU device plugin, registering with this node's kubelet."""
        argv = [
            str(self.bins["fakegpu"]),
            f"--count={FAKE_GPU_COUNT}",
            "--uuid-prefix=GPU-fake-",
            f"--dir={DEVICE_PLUGIN_DIR}",
            f"--allocation-log={allocation_log(self.dir)}",
        ]
        return spawn_entered(f"{self.spec.name}/fakegpu", self.enter(), argv, self.logs / "fakegpu.log")


def _wait_for(check: Callable[[], bool], what: str, log: Path, proc: procs.Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not procs.alive(proc):
            raise RuntimeError(f"{what}: {proc.name} exited\n{procs.log_tail(log)}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"timed out waiting for {what}\n{procs.log_tail(log)}")
