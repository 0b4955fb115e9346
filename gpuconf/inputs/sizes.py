"""Checks of one target before it is planned: values the models would choke on, and the size limits.

Each problem is bad input (exit 2, file:line, fix): a malformed count or name, or a plan past the
documented limits (gpuconf.inputs.limits) that would take minutes or the machine's memory to compute.
"""

from __future__ import annotations

import math
from typing import Any

from gpuconf.errors import ApiServerRefusal, InputError, KubeRayRefusal, ServeRefusal
from gpuconf.inputs.loader import LDict, get, loc_of
from gpuconf.inputs.manifests import Target
from gpuconf.inputs.nodepool import check_quantity


def check_sizes(target: Target, max_pods: int, max_replicas: int) -> None:
    """Raise InputError for a malformed group or deployment, or a plan past the limits."""
    _groups(target.cluster.spec, max_pods)
    _api_server_rules(target)
    _serve(target.serve.body, max_replicas)


def _api_server_rules(target: Target) -> None:
    """What the API server refuses in the pods KubeRay creates (gpuconf.inputs.apiserver)."""
    from gpuconf.inputs.apiserver import check_group_name, check_pod_resources

    spec = target.cluster.spec
    check_pod_resources(spec, ("headGroupSpec",))
    workers = get(spec, "workerGroupSpecs", default=[]) or []
    for i, g in enumerate(workers if isinstance(workers, list) else []):
        if isinstance(g, dict):
            check_group_name(spec, i, target.cluster.name, target.cluster.kind)
            check_pod_resources(spec, ("workerGroupSpecs", i))


def desired_replicas(replicas: int | None, low: int | None, high: int | None) -> int:
    """KubeRay's GetWorkerGroupDesiredReplicas (controllers/ray/utils/util.go, v1.5.0), before numOfHosts.

    minReplicas above maxReplicas: maxReplicas, whatever `replicas` says; else `replicas` clamped
    into [minReplicas, maxReplicas]. Unset values are the CRD's defaults (0, 0, 2^31-1).
    """
    low = 0 if low is None else low
    high = 2**31 - 1 if high is None else high
    if low > high:
        return high
    value = low if replicas is None else replicas
    return max(low, min(value, high))


def _int_field(root: LDict, path: tuple[Any, ...], value: Any, low: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ApiServerRefusal(
            loc_of(root, *path),
            f"{what} must be an integer >= {low}, got {value!r}",
            f"e.g. `{path[-1]}: {max(low, 1)}`",
        )
    return value


def _groups(spec: LDict, max_pods: int) -> None:
    workers = get(spec, "workerGroupSpecs", default=[]) or []
    if not isinstance(workers, list):
        raise ApiServerRefusal(
            loc_of(spec, "workerGroupSpecs"),
            "workerGroupSpecs must be a list of worker groups",
            "write each group as a `- groupName: ...` item",
        )
    names: dict[str, Any] = {}
    pods = 1
    for i, g in enumerate(workers):
        if not isinstance(g, dict):
            continue  # the KubeRay model names this one
        name = g.get("groupName")
        if isinstance(name, str) and name in names:
            raise KubeRayRefusal(
                loc_of(spec, "workerGroupSpecs", i, "groupName"),
                f"duplicate worker group name {name!r} (also at {names[name]})",
                "give each worker group a unique groupName",
            )
        names[str(name)] = loc_of(spec, "workerGroupSpecs", i, "groupName")
        hosts = g.get("numOfHosts", 1)
        hosts = _int_field(spec, ("workerGroupSpecs", i, "numOfHosts"), hosts, 1, "numOfHosts")
        counts = {}
        for key in ("replicas", "minReplicas", "maxReplicas"):
            if g.get(key) is not None:
                counts[key] = _int_field(spec, ("workerGroupSpecs", i, key), g[key], 0, key)
        replicas = desired_replicas(counts.get("replicas"), counts.get("minReplicas"), counts.get("maxReplicas"))
        pods += replicas * hosts
        if pods > max_pods:
            raise InputError(
                loc_of(spec, "workerGroupSpecs", i, "replicas" if "replicas" in g else "minReplicas"),
                f"the cluster plans more than {max_pods:,} pods ({replicas:,} x {hosts} hosts here)",
                "lower replicas (gpuconf plans every pod; see docs/static-inputs.md, limits)",
            )
    for path in [("headGroupSpec",), *(("workerGroupSpecs", i) for i in range(len(workers)))]:
        containers = get(spec, *path, "template", "spec", "containers", default=[]) or []
        for c, container in enumerate(containers if isinstance(containers, list) else []):
            for which in ("limits", "requests"):
                values = get(container, "resources", which)
                if isinstance(values, dict):
                    for key, raw in values.items():
                        check_quantity(
                            spec,
                            (*path, "template", "spec", "containers", c, "resources", which, key),
                            raw,
                            f"resources.{which}.{key}",
                        )


def _number(body: LDict, path: tuple[Any, ...], value: Any, what: str) -> None:
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ServeRefusal(
            loc_of(body, *path), f"{what} must be a finite number >= 0, got {value!r}", f"e.g. `{path[-1]}: 1`"
        )


def _serve(body: LDict, max_replicas: int) -> None:
    apps = get(body, "applications", default=[]) or []
    seen_apps: dict[str, Any] = {}
    for i, app in enumerate(apps if isinstance(apps, list) else []):
        if not isinstance(app, dict):
            continue
        name = str(app.get("name", "default"))
        if name in seen_apps:
            raise ServeRefusal(
                loc_of(body, "applications", i, "name"),
                f"duplicate app name {name!r} (also at {seen_apps[name]})",
                "give each Serve app a unique name",
            )
        seen_apps[name] = loc_of(body, "applications", i)
        seen: dict[str, Any] = {}
        for j, dep in enumerate(app.get("deployments") or []):
            if not isinstance(dep, dict):
                continue
            base = ("applications", i, "deployments", j)
            dname = str(dep.get("name"))
            if dname in seen:
                raise ServeRefusal(
                    loc_of(body, *base, "name"),
                    f"duplicate deployment name {dname!r} in app {name!r} (also at {seen[dname]})",
                    "list each deployment once",
                )
            seen[dname] = loc_of(body, *base)
            n = dep.get("num_replicas")
            if n is not None and n != "auto":
                _int_field(body, (*base, "num_replicas"), n, 0, "num_replicas")
                if n > max_replicas:
                    raise InputError(
                        loc_of(body, *base, "num_replicas"),
                        f"num_replicas {n:,} is over the limit of {max_replicas:,}",
                        "lower num_replicas (see docs/static-inputs.md, limits)",
                    )
            auto = dep.get("autoscaling_config")
            if isinstance(auto, dict):
                for key in ("initial_replicas", "min_replicas"):
                    if auto.get(key) is not None:
                        v = _int_field(body, (*base, "autoscaling_config", key), auto[key], 0, key)
                        if v > max_replicas:
                            raise InputError(
                                loc_of(body, *base, "autoscaling_config", key),
                                f"{key} {v:,} is over the limit of {max_replicas:,}",
                                "lower it (see docs/static-inputs.md, limits)",
                            )
            opts = dep.get("ray_actor_options")
            if isinstance(opts, dict):
                for key in ("num_cpus", "num_gpus", "memory"):
                    _number(body, (*base, "ray_actor_options", key), opts.get(key), key)
                res = opts.get("resources")
                if isinstance(res, dict):
                    for key, value in res.items():
                        _number(body, (*base, "ray_actor_options", "resources", key), value, f"custom resource {key!r}")
