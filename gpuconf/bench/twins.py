"""The benchmark's Serve config: a GPU twin, a CPU twin and a no-op twin of MLService, one app each.

- ``bench_gpu``: the user's GPU deployment exactly as configured (same ray_actor_options, so it
  lands where the user's replicas land and reserves what they reserve), serving the benchmark
  model.
- ``bench_cpu``: the same entrypoint and model with ``device: cpu``, ``num_gpus: 0``, no GPU-node
  resources, and a ``label_selector`` on ``ray.io/node-group`` that pins it to a group the plan
  puts on a non-GPU node. ``num_gpus: 0`` alone would not keep it off a GPU node (Ray only
  *prefers* non-GPU nodes), hence the selector.
- ``bench_noop``: ``build_noop_service`` on the same CPU group, measured the same way, so the
  report can separate Serve/HTTP time from model time.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gpuconf.inputs.manifests import plain

ML_BUILDER = ":build_ml_service"
NOOP_IMPORT = "entrypoints.ml_entrypoint:build_noop_service"
NODE_GROUP_LABEL = "ray.io/node-group"
TWIN_APPS: dict[str, str] = {"gpu": "bench_gpu", "cpu": "bench_cpu", "noop": "bench_noop"}
TWIN_DEPLOYMENTS: dict[str, str] = {"gpu": "MLService", "cpu": "MLService", "noop": "NoopService"}
# Options that would pull the CPU twin towards GPU nodes, or that it must not inherit.
_GPU_ONLY_OPTIONS = ("num_gpus", "resources", "accelerator_type", "label_selector")


def route_of(twin: str) -> str:
    """The route prefix of a twin's app (stable, so URLs in reports stay comparable)."""
    return "/" + TWIN_APPS[twin]


@dataclass(frozen=True)
class Candidate:
    """A Ray node the CPU twin could be pinned to (planned, or live on the cluster)."""

    name: str
    group: str  # its ray.io/node-group label
    is_gpu_node: bool
    is_head: bool
    cpus: float
    memory: float


@dataclass(frozen=True)
class CpuHost:
    """The Ray node the CPU and no-op twins are pinned to (by its node group)."""

    group: str
    pod: str
    cpus: float
    memory: float
    is_head: bool


class TwinError(ValueError):
    """The twins cannot be built from this plan or Serve config; the message says why."""


def candidates_from_plan(ray_nodes: Iterable[Any]) -> list[Candidate]:
    """Candidates from the plan's Ray nodes (``gpuconf.model.plan.RayNodePlan``)."""
    return [
        Candidate(
            n.name,
            n.labels.get(NODE_GROUP_LABEL, ""),
            n.is_gpu_node,
            n.pod.group.is_head,
            float(n.resources.get("CPU", 0.0)),
            float(n.resources.get("memory", 0.0)),
        )
        for n in ray_nodes
    ]


def candidates_from_records(records: Iterable[Any]) -> list[Candidate]:
    """Candidates from the live Ray nodes (``gpuconf.live.observe.PodRecord``): only nodes that joined."""
    return [
        Candidate(
            r.pod,
            r.ray_labels.get(NODE_GROUP_LABEL) or r.group,
            r.gpu_node,
            r.is_head,
            float(r.ray_resources.get("CPU", 0.0)),
            float(r.ray_resources.get("memory", 0.0)),
        )
        for r in records
    ]


def pick_cpu_host(candidates: Iterable[Candidate], group: str | None = None) -> CpuHost:
    """A Ray node on a non-GPU Kubernetes node: a worker group first (the head serves HTTP and
    runs Serve's controller), the one with the most CPUs; the head only when nothing else is left.

    ``group`` forces a node group (its ``ray.io/node-group`` value); it must be off the GPU nodes.
    """
    nodes = list(candidates)
    off_gpu = [n for n in nodes if not n.is_gpu_node and n.group]
    if group:
        off_gpu = [n for n in off_gpu if n.group == group]
        if not off_gpu:
            groups = sorted({f"{n.group}{' (GPU node)' if n.is_gpu_node else ''}" for n in nodes})
            raise TwinError(f"node group {group!r} has no Ray node on a non-GPU node; groups: {groups}")
    if not off_gpu:
        raise TwinError(
            "there is no Ray node on a non-GPU node, so the CPU twin has nowhere to run that keeps "
            "it off the GPU (add a CPU worker group, like manifests/raycluster.yaml's cpu-workers)"
        )
    best = sorted(off_gpu, key=lambda n: (n.is_head, -n.cpus, n.name))[0]
    return CpuHost(group=best.group, pod=best.name, cpus=best.cpus, memory=best.memory, is_head=best.is_head)


def cpu_sizing(host: CpuHost, num_cpus: float | None = None, torch_threads: int | None = None) -> tuple[float, int]:
    """``(num_cpus, torch_threads)`` for the CPU twin: by default every whole CPU of its node
    (the no-op twin beside it reserves none), and one torch thread per reserved CPU, so that
    torch never oversubscribes what Ray gave the replica."""
    if num_cpus is None:
        num_cpus = float(math.floor(host.cpus)) if host.cpus >= 1 else host.cpus
    if num_cpus <= 0 or num_cpus > host.cpus + 1e-9:
        raise TwinError(
            f"the CPU twin asks for {num_cpus:g} CPUs but {host.pod} (group {host.group}) has {host.cpus:g}"
        )
    threads = torch_threads if torch_threads is not None else max(1, int(num_cpus))
    if threads < 1:
        raise TwinError(f"torch_threads must be >= 1, got {threads}")
    return num_cpus, threads


def find_ml_app(
    serve_body: Any, app: str | None = None, deployment: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The user's MLService app and deployment entry (by name, else the first ``build_ml_service`` app)."""
    body = plain(serve_body)
    apps = [a for a in body.get("applications") or [] if str(a.get("import_path", "")).endswith(ML_BUILDER)]
    if app is not None:
        apps = [a for a in apps if a.get("name", "default") == app]
    if not apps:
        raise TwinError(
            f"no application with import path ...{ML_BUILDER}{f' named {app!r}' if app else ''} in the Serve config"
        )
    found = apps[0]
    deps = found.get("deployments") or [{"name": "MLService"}]
    if deployment is not None:
        deps = [d for d in deps if d.get("name") == deployment] or [{"name": deployment}]
    return found, deps[0]


#: The app name of the reference model when it stands in for a user's GPU deployment.
STAND_IN_APP = "reference_model"


def reference_stand_in(ray_actor_options: dict[str, Any] | None) -> dict[str, Any]:
    """A Serve config of gpuconf's reference MLService with a user's GPU deployment's options as deployed.

    The GPU-vs-CPU gate needs a model that runs on both devices; a user's app need not run on a
    CPU, so the twins serve the reference model, placed exactly as the user's GPU replicas are.
    """
    opts = {k: copy.deepcopy(v) for k, v in (ray_actor_options or {}).items() if k != "runtime_env" and v is not None}
    return {
        "applications": [
            {
                "name": STAND_IN_APP,
                "route_prefix": f"/{STAND_IN_APP}",
                "import_path": f"entrypoints.ml_entrypoint:{ML_BUILDER.lstrip(':')}",
                "deployments": [{"name": "MLService", "num_replicas": 1, "ray_actor_options": opts}],
            }
        ]
    }


def _one_replica(dep: dict[str, Any]) -> dict[str, Any]:
    # One replica per twin: every request hits the replica whose probe and bench were read.
    out = copy.deepcopy(dep)
    out.pop("autoscaling_config", None)
    out["num_replicas"] = 1
    return out


def build_twin_config(
    serve_body: Any,
    model: str,
    host: CpuHost,
    num_cpus: float,
    torch_threads: int,
    app: str | None = None,
    deployment: str | None = None,
) -> dict[str, Any]:
    """The Serve config with the three twins (and only them: deploying it replaces the user's apps)."""
    body = plain(serve_body)
    user_app, user_dep = find_ml_app(body, app, deployment)
    user_args = dict(user_app.get("args") or {})
    shared = {k: copy.deepcopy(v) for k, v in user_app.items() if k in ("runtime_env", "logging_config")}

    gpu_dep = _one_replica(user_dep)
    gpu_dep["name"] = "MLService"
    gpu_app = {
        **shared,
        "name": TWIN_APPS["gpu"],
        "route_prefix": route_of("gpu"),
        "import_path": user_app["import_path"],
        "args": {**user_args, "model": model},
        "deployments": [gpu_dep],
    }

    selector = {NODE_GROUP_LABEL: host.group}
    user_opts = dict(user_dep.get("ray_actor_options") or {})
    cpu_opts = {k: v for k, v in user_opts.items() if k not in _GPU_ONLY_OPTIONS}
    cpu_opts.update({"num_cpus": num_cpus, "num_gpus": 0, "label_selector": selector})
    if cpu_opts.get("memory") and float(cpu_opts["memory"]) > host.memory:
        # A reservation the CPU node cannot hold would leave the twin unplaceable.
        cpu_opts.pop("memory")
    cpu_dep = {**_one_replica(user_dep), "name": "MLService", "ray_actor_options": cpu_opts}
    cpu_app = {
        **shared,
        "name": TWIN_APPS["cpu"],
        "route_prefix": route_of("cpu"),
        "import_path": user_app["import_path"],
        "args": {**user_args, "model": model, "device": "cpu", "torch_threads": torch_threads},
        "deployments": [cpu_dep],
    }

    # num_cpus 0: the no-op holds nothing, so it fits beside a CPU twin that took the whole node.
    noop_app = {
        **shared,
        "name": TWIN_APPS["noop"],
        "route_prefix": route_of("noop"),
        "import_path": NOOP_IMPORT,
        "deployments": [
            {
                "name": "NoopService",
                "num_replicas": 1,
                "ray_actor_options": {"num_cpus": 0, "label_selector": dict(selector)},
            }
        ],
    }

    top = {k: copy.deepcopy(v) for k, v in body.items() if k != "applications"}
    return {**top, "applications": [gpu_app, cpu_app, noop_app]}
