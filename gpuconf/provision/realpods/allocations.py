"""What the device plugin allocated on the realpods tier's nodes, read where the kubelet keeps it.

Two records, both on the node: the kubelet's pod-resources API (which device IDs each pod's
containers hold) and the fake GPU plugin's allocation log (what it answered for each ID: the
env and the device node). They are reachable only where the tier runs (the node folders are on
this machine), so this is ``None`` for any other cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuconf.provision.realpods import podresources
from gpuconf.provision.realpods.layout import NODES, state_dir
from gpuconf.provision.realpods.node import allocation_log, pod_resources_socket


@dataclass
class NodeAllocations:
    """One node's allocations: by (namespace, pod), each container's device IDs per resource."""

    node: str
    socket: str
    log: str
    pods: dict[tuple[str, str], list[podresources.ContainerDevices]] = field(default_factory=dict)
    device_paths: dict[str, str] = field(default_factory=dict)
    plugin_answers: list[dict[str, Any]] = field(default_factory=list)

    def devices_of(self, namespace: str, pod: str, resource: str) -> list[str]:
        """Every device ID of ``resource`` the kubelet allocated to the pod's containers."""
        return [d for c in self.pods.get((namespace, pod), []) if c.resource == resource for d in c.device_ids]

    def evidence(self, namespace: str, pod: str) -> dict[str, Any]:
        """Where the record came from and what it says for one pod."""
        return {
            "source": f"kubelet pod-resources API ({self.socket}) and the plugin's allocation log ({self.log})",
            "containers": {c.container: {c.resource: list(c.device_ids)} for c in self.pods.get((namespace, pod), [])},
            "plugin_device_nodes": self.device_paths,
        }


def read_plugin_log(path: Path) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(device ID -> container path, every answer) from the plugin's JSON-lines allocation log."""
    paths: dict[str, str] = {}
    answers: list[dict[str, Any]] = []
    if not path.exists():
        return paths, answers
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        answers.append(entry)
        paths.update(entry.get("devices") or {})
    return paths, answers


def is_tier_kubeconfig(kubeconfig: str | None, state: Path | None = None) -> bool:
    """Whether ``kubeconfig`` is this machine's realpods tier's admin kubeconfig."""
    from gpuconf.provision.realpods.cluster import kubeconfig_path

    if not kubeconfig:
        return False
    try:
        return Path(kubeconfig).resolve() == kubeconfig_path(state).resolve()
    except OSError:
        return False


def node_allocations(node: str, state: Path | None = None) -> NodeAllocations:
    """The allocations of one of the tier's nodes (raises OSError when its kubelet cannot be asked)."""
    spec = next((s for s in NODES if s.name == node), None)
    if spec is None:
        raise LookupError(f"{node} is not a node of the realpods tier ({', '.join(s.name for s in NODES)})")
    d = spec.dir(state or state_dir())
    sock, log = pod_resources_socket(d), allocation_log(d)
    out = NodeAllocations(node, str(sock), str(log))
    for entry in podresources.list_allocations(sock):
        out.pods.setdefault((entry.namespace, entry.pod), []).append(entry)
    out.device_paths, out.plugin_answers = read_plugin_log(log)
    return out
