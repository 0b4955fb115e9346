"""The scaling timeline: replicas, pods and Ray nodes sampled over time, each with its node and GPU.

Backend-neutral: a sample reads the LiveCluster (``refresh()``: records and pending pods) and
Serve's own replica table (state and Ray node of each replica). The timeline is evidence (a
list of samples), the input of the "never on the head or a CPU node" check at every sample, and
a plot (replicas and GPU workers over time) written next to the reports; matplotlib is imported
only to draw, with the Agg backend (no display).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpuconf.live.contract import LiveCluster


def serve_replicas(dashboard_url: str, app: str, deployment: str) -> list[dict[str, Any]]:
    """Serve's replicas of one deployment: id, state and Ray node id (empty when it is not deployed)."""
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    details = ServeSubmissionClient(dashboard_url).get_serve_details()
    dep = (((details.get("applications") or {}).get(app) or {}).get("deployments") or {}).get(deployment) or {}
    return [
        {"replica": r.get("replica_id"), "state": r.get("state"), "node_id": r.get("node_id")}
        for r in dep.get("replicas") or []
    ]


@dataclass
class Sample:
    """What ran at one moment: replicas (with their pod, node and GPUs), pods with a Ray node, Pending pods."""

    t_s: float
    label: str
    replicas: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    pending: list[dict[str, str]]

    def running(self) -> list[dict[str, Any]]:
        """The replicas Serve reports RUNNING."""
        return [r for r in self.replicas if r["state"] == "RUNNING"]

    def gpu_workers(self) -> list[dict[str, Any]]:
        """Pods with a Ray node on a GPU node, that are not the head."""
        return [p for p in self.pods if p["gpu_node"] and not p["is_head"]]

    def misplaced(self) -> list[str]:
        """Replicas on a Ray node of the head, of a pod on a CPU node, or of no known pod."""
        out = []
        for r in self.replicas:
            if not r.get("node_id"):
                continue  # not placed yet (PENDING_ALLOCATION): nowhere wrong
            if r.get("pod") is None:
                out.append(f"replica {r['replica']} ({r['state']}) on Ray node {r['node_id']}, which is no known pod")
            elif r["is_head"] or not r["gpu_node"]:
                where = "the head" if r["is_head"] else "a CPU node"
                out.append(f"replica {r['replica']} ({r['state']}) on {where}: {r['pod']}@{r['k8s_node']}")
        return out


@dataclass
class Timeline:
    """Samples of one scaling run, from its start."""

    app: str
    deployment: str
    samples: list[Sample] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    def sample(self, live: LiveCluster, label: str = "") -> Sample:
        """Refresh the cluster, read Serve's replicas, and record them with their pod, node and GPUs."""
        live.refresh()
        records = live.records
        replicas = []
        for r in serve_replicas(live.serve.dashboard_url, self.app, self.deployment):
            rec = records.get(str(r["node_id"])) if r["node_id"] else None
            replicas.append(
                {
                    **r,
                    "pod": rec.pod if rec else None,
                    "k8s_node": rec.k8s_node if rec else None,
                    "group": rec.group if rec else None,
                    "is_head": rec.is_head if rec else False,
                    "gpu_node": rec.gpu_node if rec else False,
                    "node_gpus": rec.ray_resources.get("GPU", 0.0) if rec else None,
                }
            )
        pods = [
            {
                "pod": rec.pod,
                "group": rec.group,
                "k8s_node": rec.k8s_node,
                "node_id": rec.node_id,
                "is_head": rec.is_head,
                "gpu_node": rec.gpu_node,
                "gpus_held": rec.gpus_held,
                "ray_gpus": rec.ray_resources.get("GPU", 0.0),
            }
            for rec in records.values()
        ]
        out = Sample(round(time.monotonic() - self.t0, 2), label, replicas, pods, list(live.pending))
        self.samples.append(out)
        return out

    def misplaced(self) -> list[str]:
        """Every misplaced replica at every sample, with the sample's time."""
        return [f"t={s.t_s:g}s: {m}" for s in self.samples for m in s.misplaced()]

    def evidence(self) -> list[dict[str, Any]]:
        """The samples as plain data, compact enough for a report."""
        return [
            {
                "t_s": s.t_s,
                "label": s.label,
                "replicas": [
                    {k: r[k] for k in ("replica", "state", "pod", "k8s_node", "group", "node_gpus")} for r in s.replicas
                ],
                "pods": [
                    {k: p[k] for k in ("pod", "group", "k8s_node", "gpu_node", "gpus_held", "ray_gpus")} for p in s.pods
                ],
                "pending": [{"pod": p.get("pod"), "reason": p.get("reason")} for p in s.pending],
            }
            for s in self.samples
        ]

    def plot(self, dest: Path, name: str) -> list[Path]:
        """Draw RUNNING replicas, GPU worker pods and Pending pods over time into `dest` (PNG and SVG)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        dest.mkdir(parents=True, exist_ok=True)
        t = [s.t_s for s in self.samples]
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.step(t, [len(s.running()) for s in self.samples], where="post", label=f"{self.deployment} replicas RUNNING")
        ax.step(t, [len(s.gpu_workers()) for s in self.samples], where="post", label="GPU worker pods (Ray nodes)")
        ax.step(t, [len(s.pending) for s in self.samples], where="post", linestyle=":", label="Pending pods")
        top = max([len(s.running()) for s in self.samples] + [len(s.gpu_workers()) for s in self.samples] + [1])
        ax.set_ylim(-0.2, top + 1.2)  # headroom: the legend must not hide the top of the lines
        ax.set_xlabel("seconds since the run started")
        ax.set_ylabel("count")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{self.app}/{self.deployment}: {name}")
        ax.legend(loc="upper left", fontsize="small", ncol=3)
        fig.tight_layout()
        paths = [dest / f"{name}.png", dest / f"{name}.svg"]
        for path in paths:
            fig.savefig(path)
        plt.close(fig)
        return paths
