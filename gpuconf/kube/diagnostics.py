"""What to keep from a namespace before it is deleted: events, RayCluster status, pods, nodes, logs."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import yaml

from gpuconf.kube.client import CLUSTER_LABEL, KubeClient


LOG_TAIL_LINES = 500


def collect_diagnostics(kube: KubeClient, namespace: str, dest_dir: Path, cluster: str | None = None,
                        extras: dict[str, Callable[[], str]] | None = None, pod_logs: bool = False) -> Path:
    """Write events.txt, rayclusters.yaml, pods.yaml, nodes.yaml (labels, taints, allocatable) under
    `dest_dir`, plus `logs/<pod>.log` (the last lines of each pod) with `pod_logs`, and each of
    `extras` (file name → producer); return `dest_dir`.

    Best effort: a part that cannot be read is written as the error that stopped it.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)

    def write(name: str, produce) -> None:  # type: ignore[no-untyped-def]
        try:
            text = produce()
        except Exception as exc:  # diagnostics must never hide the failure they document
            text = f"could not read: {exc!r}\n"
        (dest_dir / name).write_text(text)

    def events() -> str:
        rows = []
        for ev in kube.events(namespace):
            obj = ev.involved_object
            when = ev.last_timestamp or ev.event_time or ev.first_timestamp
            rows.append(f"{when}  {ev.type:<8} {ev.reason:<20} {obj.kind}/{obj.name}  x{ev.count or 1}  {ev.message}")
        return "\n".join(rows) + "\n"

    def rayclusters() -> str:
        items = kube.custom.list_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters",
                                                          _request_timeout=kube.timeout)["items"]
        return yaml.safe_dump_all([{"metadata": {"name": i["metadata"]["name"]}, "spec": i.get("spec"),
                                    "status": i.get("status")} for i in items], sort_keys=False)

    def pods() -> str:
        selector = f"{CLUSTER_LABEL}={cluster}" if cluster else None
        items = kube.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=kube.timeout).items
        return yaml.safe_dump_all([kube.to_dict(p) for p in items], sort_keys=False)

    def nodes() -> str:
        return yaml.safe_dump_all([kube.to_dict(n) for n in kube.core.list_node(_request_timeout=kube.timeout).items],
                                  sort_keys=False)

    write("events.txt", events)
    write("rayclusters.yaml", rayclusters)
    write("pods.yaml", pods)
    write("nodes.yaml", nodes)
    if pod_logs:
        selector = f"{CLUSTER_LABEL}={cluster}" if cluster else None
        try:
            names = [p.metadata.name for p in kube.core.list_namespaced_pod(
                namespace, label_selector=selector, _request_timeout=kube.timeout).items]
        except Exception as exc:  # keep going: the other parts are written already
            names = []
            (dest_dir / "logs.error.txt").write_text(f"could not list pods: {exc!r}\n")
        (dest_dir / "logs").mkdir(exist_ok=True)
        for name in names:
            write(f"logs/{name}.log", lambda name=name: kube.core.read_namespaced_pod_log(
                name, namespace, tail_lines=LOG_TAIL_LINES, _request_timeout=kube.timeout) or "")
    for file_name, produce in (extras or {}).items():
        write(file_name, produce)
    return dest_dir
