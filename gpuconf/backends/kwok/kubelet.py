"""kwok plays the kubelet's server for the local Ray nodes: port-forward, exec and logs of each pod.

A kubelet serves `kubectl port-forward`, `exec` and `logs` for its pods. kwok's server does the
same from its PortForward, Exec and Logs objects (one of each per pod, named after it), so the
API server's real port-forward, exec and log endpoints reach the local Ray node that stands for
the pod: its ports, a shell on this host with the pod's env, and its `ray start` log. The
cluster backend's client code then runs unchanged against kwok.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpuconf.kube.client import APPLY, FIELD_MANAGER, KubeClient

GROUP, VERSION = "kwok.x-k8s.io", "v1alpha1"


def _object(kind: str, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _create(kube: KubeClient, plural: str, body: dict[str, Any]) -> None:
    """Create or replace (server-side apply): a later call for the same pod wins."""
    meta = body["metadata"]
    kube.custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        meta["namespace"],
        plural,
        meta["name"],
        body,
        field_manager=FIELD_MANAGER,
        force=True,
        _content_type=APPLY,
        _request_timeout=kube.timeout,
    )


def forward_ports(kube: KubeClient, namespace: str, pod: str, ports: dict[int, int]) -> None:
    """Port-forwards to `pod` reach 127.0.0.1: {pod port: local port}."""
    forwards = [
        {"ports": [pod_port], "target": {"port": local, "address": "127.0.0.1"}}
        for pod_port, local in sorted(ports.items())
    ]
    _create(kube, "portforwards", _object("PortForward", namespace, pod, {"forwards": forwards}))


def exec_locally(kube: KubeClient, namespace: str, pod: str, env: dict[str, str], work_dir: str) -> None:
    """Execs into `pod` run on this host, in `work_dir`, with the pod's env."""
    envs = [{"name": k, "value": v} for k, v in sorted(env.items())]
    _create(kube, "execs", _object("Exec", namespace, pod, {"execs": [{"local": {"workDir": work_dir, "envs": envs}}]}))


def cri_log_path(log_file: Path) -> Path:
    """Where the CRI-format copy of a local node's log lives (beside it)."""
    return log_file.with_name(log_file.name + ".cri")


def write_cri_log(log_file: Path) -> Path:
    """Copy a plain log into the CRI log format kwok serves (`<time> stdout F <line>`, as a kubelet writes it)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        lines = []
    dest = cri_log_path(log_file)
    dest.write_text("".join(f"{stamp} stdout F {line}\n" for line in lines))
    return dest


def logs_from(kube: KubeClient, namespace: str, pod: str, log_file: Path) -> None:
    """`logs` of `pod` read the CRI-format copy of `log_file` (refresh it with write_cri_log before reading)."""
    dest = write_cri_log(log_file)
    _create(kube, "logs", _object("Logs", namespace, pod, {"logs": [{"logsFile": str(dest), "follow": False}]}))
