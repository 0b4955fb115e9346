"""Names, addresses and folders of the realpods tier (one place)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gpuconf.provision.kwok.paths import cache_root

NETNS = "gpuconf-realpods"
NETNS_PATH = Path("/run/netns") / NETNS
#: cgroup v1 parent of every node's cgroupRoot, in each hierarchy.
CGROUP_PARENT = "gpuconf-realpods"
#: Cluster DNS (dnsmasq) listens here, on the namespace's loopback.
DNS_IP = "10.250.0.53"
CLUSTER_DOMAIN = "cluster.local"
#: The folder the kubelet's device manager hard-codes; each node binds its own over it.
DEVICE_PLUGIN_DIR = Path("/var/lib/kubelet/device-plugins")
FAKE_GPU_COUNT = 2
PAUSE_IMAGE = "gpuconf.local/pause:1"


@dataclass(frozen=True)
class NodeSpec:
    """One real node: its name, address (a /32 on the namespace's lo), pod subnet and role."""

    name: str
    ip: str
    subnet: str
    gateway: str
    bridge: str
    gpu: bool

    def dir(self, state: Path) -> Path:
        """The node's folder under the state directory."""
        return state / "nodes" / self.name

    @property
    def cgroup_root(self) -> str:
        """The kubelet's ``cgroupRoot`` (the same path in every cgroup v1 hierarchy)."""
        return f"/{CGROUP_PARENT}/{self.name}"


NODES = (
    NodeSpec("cpu-node-1", "10.250.0.1", "10.244.1.0/24", "10.244.1.1", "gpuconf-cpu0", gpu=False),
    NodeSpec("gpu-node-1", "10.250.0.2", "10.244.2.0/24", "10.244.2.1", "gpuconf-gpu0", gpu=True),
)


def state_dir() -> Path:
    """``$GPUCONF_REALPODS_STATE``, else ``~/.cache/gpuconf/realpods-state``."""
    return Path(os.environ.get("GPUCONF_REALPODS_STATE") or cache_root() / "realpods-state")


def images_dir() -> Path:
    """Where the image tarballs are cached, keyed by the hash of their inputs."""
    return cache_root() / "images"


def nsenter_net() -> list[str]:
    """The prefix that starts a command inside the tier's network namespace."""
    return ["nsenter", f"--net={NETNS_PATH}", "--"]
