"""What to keep from a namespace before it is deleted: events, RayCluster status, pods, nodes, logs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import yaml

from gpuconf.kube.client import CLUSTER_LABEL, KubeClient, event_time

LOG_TAIL_LINES = 500


def collect_diagnostics(
    kube: KubeClient,
    namespace: str,
    dest_dir: Path,
    cluster: str | None = None,
    extras: dict[str, Callable[[], str]] | None = None,
    pod_logs: bool = False,
) -> Path:
    """Write events.txt, rayclusters.yaml, pods.yaml, nodes.yaml (labels, taints, allocatable) under
    `dest_dir`, plus `logs/<pod>.log` (the last lines of each pod) with `pod_logs`, and each of
    `extras` (file name → producer); return `dest_dir`.

    Best effort: a part that cannot be read is written as the error that stopped it.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)

    def write(name: str, produce: Callable[[], str]) -> None:
        try:
            text = produce()
        except Exception as exc:  # diagnostics must never hide the failure they document
            text = f"could not read: {exc!r}\n"
        (dest_dir / name).write_text(text)

    def events() -> str:
        rows = []
        for ev in kube.events(namespace):
            obj = ev.involved_object
            rows.append(
                f"{event_time(ev)}  {ev.type:<8} {ev.reason:<20} {obj.kind}/{obj.name}  x{ev.count or 1}  {ev.message}"
            )
        return "\n".join(rows) + "\n"

    def rayclusters() -> str:
        listed = cast(
            dict[str, Any],
            kube.custom.list_namespaced_custom_object(
                "ray.io", "v1", namespace, "rayclusters", _request_timeout=kube.timeout
            ),
        )
        items = listed["items"]
        return yaml.safe_dump_all(
            [
                {"metadata": {"name": i["metadata"]["name"]}, "spec": i.get("spec"), "status": i.get("status")}
                for i in items
            ],
            sort_keys=False,
        )

    # One read of the pods serves pods.yaml and the logs.
    try:
        pod_items: list[Any] = kube.core.list_namespaced_pod(
            namespace, label_selector=f"{CLUSTER_LABEL}={cluster}" if cluster else None, _request_timeout=kube.timeout
        ).items
        pods_error: Exception | None = None
    except Exception as exc:  # written as pods.yaml's content below
        pod_items, pods_error = [], exc

    def pods() -> str:
        if pods_error is not None:
            raise pods_error
        return yaml.safe_dump_all([kube.to_dict(p) for p in pod_items], sort_keys=False)

    def nodes() -> str:
        return yaml.safe_dump_all(
            [kube.to_dict(n) for n in kube.core.list_node(_request_timeout=kube.timeout).items], sort_keys=False
        )

    write("events.txt", events)
    write("rayclusters.yaml", rayclusters)
    write("pods.yaml", pods)
    write("nodes.yaml", nodes)
    if pod_logs:
        (dest_dir / "logs").mkdir(exist_ok=True)

        def log_of(pod: str) -> str:
            return str(
                kube.core.read_namespaced_pod_log(
                    pod, namespace, tail_lines=LOG_TAIL_LINES, _request_timeout=kube.timeout
                )
                or ""
            )

        for name in (p.metadata.name for p in pod_items):
            write(f"logs/{name}.log", functools.partial(log_of, name))
    for file_name, produce in (extras or {}).items():
        write(file_name, produce)
    return dest_dir
