"""Ray's view: what each Serve replica asks for, and which Ray nodes can host it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuconf.errors import Loc
from gpuconf.inputs.loader import loc_of

# Ray Serve gives a replica one CPU when ray_actor_options leaves num_cpus unset.
SERVE_DEFAULT_NUM_CPUS = 1.0
EPS = 1e-9


@dataclass
class ReplicaDemand:
    """What one replica of a deployment asks Ray for."""

    app: str
    deployment: str
    num_replicas: int
    resources: dict[str, float]
    label_selector: dict[str, str]
    loc: Loc | None
    options_loc: Loc | None
    path: tuple[Any, ...] = ()
    # Serve's autoscaling_config bounds (None without one).
    min_replicas: int | None = None
    max_replicas: int | None = None
    # A replica with a placement group (ray.serve.llm): the bundles after the first (the first,
    # where the replica runs, is `resources`), and the strategy (PACK may spread them over nodes).
    more_bundles: list[dict[str, float]] = field(default_factory=list)
    strategy: str | None = None

    @property
    def key(self) -> str:
        """`app/deployment`."""
        return f"{self.app}/{self.deployment}"

    @property
    def num_gpus(self) -> float:
        """GPUs per replica, its placement group's included (0 when not asked for)."""
        return self.resources.get("GPU", 0.0) + sum(b.get("GPU", 0.0) for b in self.more_bundles)


@dataclass
class RayNodeView:
    """A Ray node as the scheduler sees it: total resources and labels."""

    name: str
    resources: dict[str, float]
    labels: dict[str, str]
    available: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.available = dict(self.resources)


def demands_from_serve(body: dict[str, Any]) -> list[ReplicaDemand]:
    """One demand per deployment listed in the Serve config (and per model of a ray.serve.llm app)."""
    out = []
    for i, app in enumerate(body.get("applications") or []):
        if not app.get("deployments"):
            out.extend(_llm_demands(body, i, app))
        for j, dep in enumerate(app.get("deployments") or []):
            path = ("applications", i, "deployments", j)
            opts = dep.get("ray_actor_options") or {}
            cpus = opts.get("num_cpus")
            res: dict[str, float] = {"CPU": SERVE_DEFAULT_NUM_CPUS if cpus is None else float(cpus)}
            if opts.get("num_gpus"):
                res["GPU"] = float(opts["num_gpus"])
            if opts.get("memory"):
                res["memory"] = float(opts["memory"])
            for k, v in (opts.get("resources") or {}).items():
                res[str(k)] = float(v)
            if opts.get("accelerator_type"):
                # Ray turns accelerator_type: X into a request of the resource accelerator_type:X.
                res[f"accelerator_type:{opts['accelerator_type']}"] = 0.001
            out.append(
                ReplicaDemand(
                    app=str(app.get("name", "default")),
                    deployment=str(dep.get("name")),
                    num_replicas=_replica_count(dep),
                    resources={k: v for k, v in res.items() if v > 0},
                    label_selector={str(k): str(v) for k, v in (opts.get("label_selector") or {}).items()},
                    loc=loc_of(body, *path),
                    options_loc=loc_of(body, *path, "ray_actor_options"),
                    path=path,
                    min_replicas=_bound(dep, "min_replicas"),
                    max_replicas=_bound(dep, "max_replicas"),
                )
            )
    return out


def _llm_demands(body: dict[str, Any], i: int, app: dict[str, Any]) -> list[ReplicaDemand]:
    """The LLMServer deployments (one per model) and the ingress of a `build_openai_app` app (gpuconf.model.llm)."""
    from gpuconf.model import llm

    configs = llm.llm_configs(app)
    if configs is None:
        return []
    name = str(app.get("name", "default"))
    out = []
    for j, config in enumerate(configs):
        path = ("applications", i, "args", "llm_configs", j)
        dc = config.get("deployment_config") or {}
        opts = dc.get("ray_actor_options") or {}
        actor = {"CPU": float(opts.get("num_cpus", 1)), "GPU": float(opts.get("num_gpus", 0) or 0)}
        actor.update({str(k): float(v) for k, v in (opts.get("resources") or {}).items()})
        if opts.get("memory"):
            actor["memory"] = float(opts["memory"])
        bundles = llm.bundles(config) or [{}]
        first = {k: bundles[0].get(k, 0.0) + actor.get(k, 0.0) for k in set(bundles[0]) | set(actor)}
        dep = {"num_replicas": dc.get("num_replicas"), "autoscaling_config": dc.get("autoscaling_config") or {}}
        if dep["num_replicas"] is not None and not dc.get("autoscaling_config"):
            dep.pop("autoscaling_config")
        out.append(
            ReplicaDemand(
                app=name,
                deployment=llm.deployment_name(config),
                num_replicas=_replica_count(dep),
                resources={k: v for k, v in first.items() if v > 0},
                label_selector={},
                loc=loc_of(body, *path),
                options_loc=loc_of(body, *path, "deployment_config"),
                path=path,
                min_replicas=_bound(dep, "min_replicas"),
                max_replicas=_bound(dep, "max_replicas"),
                more_bundles=[{k: v for k, v in b.items() if v > 0} for b in bundles[1:]],
                strategy=llm.strategy(config),
            )
        )
    ingress = {"autoscaling_config": {"min_replicas": 0} if llm.scales_to_zero(configs) else {}}
    out.append(
        ReplicaDemand(
            app=name,
            deployment=llm.INGRESS_NAME,
            num_replicas=_replica_count(ingress),
            resources={"CPU": SERVE_DEFAULT_NUM_CPUS},
            label_selector={},
            loc=loc_of(body, "applications", i),
            options_loc=loc_of(body, "applications", i),
            path=("applications", i),
            min_replicas=_bound(ingress, "min_replicas"),
            max_replicas=_bound(ingress, "max_replicas"),
        )
    )
    return out


def _autoscaling(dep: dict) -> dict | None:
    n = dep.get("num_replicas")
    auto = dep.get("autoscaling_config")
    if n == "auto" or (n is None and auto):
        return auto if isinstance(auto, dict) else {}
    return None


def _bound(dep: dict, key: str) -> int | None:
    """min_replicas/max_replicas of Serve's autoscaling_config (Serve's defaults: 1 and 1; 100 for "auto")."""
    auto = _autoscaling(dep)
    if auto is None:
        return None
    if auto.get(key) is not None:
        return int(auto[key])
    if key == "max_replicas" and dep.get("num_replicas") == "auto":
        return 100
    return 1


def _replica_count(dep: dict) -> int:
    """Replicas Serve must keep: num_replicas, else the autoscaler's initial count, at least min_replicas."""
    auto = _autoscaling(dep)
    if auto is not None:
        low = int(auto["min_replicas"]) if auto.get("min_replicas") is not None else 1
        start = auto.get("initial_replicas")
        return max(low, int(start)) if start is not None else low
    n = dep.get("num_replicas")
    return 1 if n is None else int(n)


def label_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Ray's label_selector: `v`, `!v`, `in(a,b)`, `!in(a,b)` per key."""
    for key, want in selector.items():
        have = labels.get(key)
        negate = want.startswith("!")
        expr = want[1:] if negate else want
        if expr.startswith("in(") and expr.endswith(")"):
            hit = have in {v.strip() for v in expr[3:-1].split(",")}
        else:
            hit = have == expr
        if hit == negate:
            return False
    return True


def node_misfit(demand: ReplicaDemand, node: RayNodeView) -> list[str]:
    """Why a replica can never run on this Ray node (judged on totals)."""
    reasons = []
    for res, amount in sorted(demand.resources.items()):
        have = node.resources.get(res, 0.0)
        if have + EPS < amount:
            unit = " bytes" if res == "memory" else ""
            reasons.append(f"{res}: needs {amount:g}{unit}, node has {have:g}{unit}")
    if demand.label_selector and not label_matches(demand.label_selector, node.labels):
        reasons.append(f"labels {node.labels} do not match label_selector {demand.label_selector}")
    return reasons


def place_replicas(demand: ReplicaDemand, nodes: list[RayNodeView]) -> tuple[list[str], str | None]:
    """Place replicas first-fit on available resources; returns node names and the resource that ran out."""
    placed: list[str] = []
    short: str | None = None
    for _ in range(demand.num_replicas):
        host = next(
            (
                n
                for n in nodes
                if not node_misfit(demand, n)
                and all(n.available.get(r, 0.0) + EPS >= a for r, a in demand.resources.items())
            ),
            None,
        )
        if host is None:
            candidates = [n for n in nodes if not node_misfit(demand, n)]
            for res, amount in sorted(demand.resources.items(), key=lambda kv: kv[0] != "GPU"):
                if candidates and all(n.available.get(res, 0.0) + EPS < amount for n in candidates):
                    short = res
                    break
            break
        rest = _place_bundles(demand, host, nodes)
        if rest is None:
            short = next((r for b in demand.more_bundles for r in sorted(b, key=lambda k: k != "GPU")), None)
            break
        for r, a in demand.resources.items():
            host.available[r] = host.available.get(r, 0.0) - a
        for node, bundle in rest:
            for r, a in bundle.items():
                node.available[r] = node.available.get(r, 0.0) - a
        placed.append(host.name)
    return placed, short


def _place_bundles(
    demand: ReplicaDemand, host: RayNodeView, nodes: list[RayNodeView]
) -> list[tuple[RayNodeView, dict[str, float]]] | None:
    """Where a replica's other placement-group bundles go: beside the first on its node, then (PACK,
    SPREAD) on other nodes first-fit; STRICT_PACK keeps them all on the node. None: they do not fit."""
    if not demand.more_bundles:
        return []
    left = {n.name: dict(n.available) for n in nodes}
    for r, a in demand.resources.items():
        left[host.name][r] = left[host.name].get(r, 0.0) - a
    order = [host] + ([] if demand.strategy == "STRICT_PACK" else [n for n in nodes if n is not host])
    out = []
    for bundle in demand.more_bundles:
        node = next(
            (
                n
                for n in order
                if all(left[n.name].get(r, 0.0) + EPS >= a for r, a in bundle.items())
                and not (demand.label_selector and not label_matches(demand.label_selector, n.labels))
            ),
            None,
        )
        if node is None:
            return None
        for r, a in bundle.items():
            left[node.name][r] = left[node.name].get(r, 0.0) - a
        out.append((node, bundle))
    return out
