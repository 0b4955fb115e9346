"""Ray Serve's own validators over a Serve config: the checks its JSON Schema cannot express.

The exported JSON Schema (gpuconf.inputs.serve_schema) catches types and unknown keys without
importing Ray. Ray's pydantic models also run custom validators, and Serve checks more at deploy
time. Here the config is validated with Ray's own code, so a config Serve would refuse is bad
input at check time:

- `ray.serve.schema.ServeDeploySchema` (pydantic): its field and model validators, e.g. import
  path format, num_replicas set beside autoscaling_config, duplicate app names or route prefixes,
  an app-level `host`, label_selector keys, runtime_env URIs, max_replicas_per_node beside
  placement_group_bundles;
- `ray.serve._private.utils.validate_route_prefix`, which Serve runs when it deploys an app
  (application_state.py): a route prefix must start with "/";
- `ray.serve.config.AutoscalingConfig`: DeploymentSchema types `autoscaling_config` as a plain
  dict, so its validators (min_replicas <= max_replicas, ...) run only when Serve deploys it;
- `ray.serve._private.config.ReplicaConfig`, which Serve builds from each deployment's options
  when it deploys it: `ray_actor_options` as Ray's actor options validate them (no `CPU`,
  `GPU`, `memory` or `bundle` in `resources`, no negative amount, no precision beyond 0.0001),
  and the placement group options.

Importing Ray takes a second or more, so each config's result is cached by the SHA-256 of its
canonical JSON and the Ray version, beside the exported schema: a config is validated with Ray
once, and re-checking it costs a file read.

Ray is an optional dependency (`pip install gpuconf[live]`): without it these validators cannot
run, the config is checked against the shipped schema only, and `gpuconf check` says so once
(take_skipped) instead of failing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from gpuconf.errors import ServeRefusal
from gpuconf.inputs.loader import LDict, loc_of, plain
from gpuconf.inputs.serve_schema import cache_dir, ray_version

RayError = tuple[list[Any], str]  # (path into the config, Ray's message)
_FORMAT = 3  # bump when what is validated changes
_SKIPPED: list[int] = [0]  # Serve configs left to the schema alone since the last take_skipped()


def take_skipped() -> int:
    """How many Serve configs were not validated with Ray (not installed) since the last call; resets."""
    n, _SKIPPED[0] = _SKIPPED[0], 0
    return n


def as_uploaded(config: dict[str, Any]) -> dict[str, Any]:
    """The config as Serve gets it once each local working_dir path is uploaded (a ``gcs://`` URI stands in)."""
    apps = config.get("applications")
    if not isinstance(apps, list):
        return config
    out = dict(config, applications=[])
    for app in apps:
        env = app.get("runtime_env") if isinstance(app, dict) else None
        wd = env.get("working_dir") if isinstance(env, dict) else None
        if isinstance(wd, str) and wd and "://" not in wd:
            app = {**app, "runtime_env": {**(env or {}), "working_dir": "gcs://_ray_pkg_local_working_dir.zip"}}
        out["applications"].append(app)
    return out


def ray_errors(config: dict[str, Any]) -> list[RayError]:
    """Every error Ray's validators report on a plain Serve config (imports Ray)."""
    import pydantic
    from ray.serve._private.utils import validate_route_prefix
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import ServeDeploySchema

    out: list[RayError] = []

    def collect(exc: pydantic.ValidationError, prefix: list[Any]) -> None:
        for err in exc.errors():
            out.append(([*prefix, *err["loc"]], str(err["msg"]).removeprefix("Value error, ")))

    try:
        ServeDeploySchema.model_validate(config)
    except pydantic.ValidationError as exc:
        collect(exc, [])
    apps = config.get("applications")
    for i, app in enumerate(apps if isinstance(apps, list) else []):
        if not isinstance(app, dict):
            continue
        route = app.get("route_prefix")
        if isinstance(route, str):
            try:
                validate_route_prefix(route)
            except ValueError as exc:
                out.append((["applications", i, "route_prefix"], str(exc)))
        deps = app.get("deployments")
        for j, dep in enumerate(deps if isinstance(deps, list) else []):
            auto = dep.get("autoscaling_config") if isinstance(dep, dict) else None
            if isinstance(auto, dict):
                try:
                    AutoscalingConfig.model_validate(auto)
                except pydantic.ValidationError as exc:
                    collect(exc, ["applications", i, "deployments", j, "autoscaling_config"])
            if not out and isinstance(dep, dict):
                out.extend(_replica_errors(["applications", i, "deployments", j], dep))
    return out


def _replica_errors(path: list[Any], dep: dict[str, Any]) -> list[RayError]:
    """What Serve's ReplicaConfig refuses in a deployment's options (run only on a config the schema took)."""
    from ray.serve._private.config import ReplicaConfig

    opts = dep.get("ray_actor_options")
    if isinstance(opts, dict) and not _finite_amounts(opts):
        return []  # a non-number or infinite amount: gpuconf's own reading says where, with the fix
    try:
        ReplicaConfig.create(
            "gpuconf_check:deployment",  # an import path stands for the code, which is not loaded here
            ray_actor_options=copy.deepcopy(opts) if isinstance(opts, dict) else None,
            placement_group_bundles=dep.get("placement_group_bundles"),
            placement_group_strategy=dep.get("placement_group_strategy"),
            max_replicas_per_node=dep.get("max_replicas_per_node"),
        )
    except (TypeError, ValueError, ArithmeticError, AssertionError) as exc:
        message = str(exc)
        resources = opts.get("resources") if isinstance(opts, dict) else None
        named = [str(k) for k in resources or {} if re.search(rf"(?<![\w-]){re.escape(str(k))}(?![\w-])", message)]
        where = ["ray_actor_options", "resources", named[0]] if named else (["ray_actor_options"] if opts else [])
        return [([*path, *where], message)]
    return []


def _cache_file(config: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    return cache_dir() / f"serve-validated-ray-{ray_version()}-v{_FORMAT}" / f"{digest}.json"


def cached_ray_errors(config: dict[str, Any]) -> list[RayError]:
    """ray_errors, read from the cache when this exact config was validated with this Ray before."""
    path = _cache_file(config)
    try:
        return [(list(p), str(m)) for p, m in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        pass
    errors = ray_errors(config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
            json.dump(errors, fh, default=str)
        os.replace(fh.name, path)  # atomic: concurrent checks never read half a file
    except OSError:
        pass  # a read-only home still validates, only without the cache
    return errors


def _finite_amounts(opts: dict[str, Any]) -> bool:
    """Every resource amount of ray_actor_options is a finite number (or absent)."""
    resources = opts.get("resources")
    amounts = [opts.get(k) for k in ("num_cpus", "num_gpus", "memory")]
    amounts += list(resources.values()) if isinstance(resources, dict) else []
    return all(
        a is None or (isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a)) for a in amounts
    )


def _app_named_in(body: LDict, message: str) -> list[Any]:
    """A config-level error that names an app or a route is placed at the (last) app it names, or its key."""
    apps = body.get("applications")
    if not isinstance(apps, list):
        return []
    by_name = re.search(r"application [`\"]([^`\"]+)[`\"]", message)
    by_route = re.search(r"route prefix [`\"]([^`\"]+)[`\"]", message)
    for i in reversed(range(len(apps))):
        app = apps[i]
        if not isinstance(app, dict):
            continue
        if by_route and app.get("route_prefix") == by_route.group(1):
            return ["applications", i, "route_prefix"]
        if by_name and app.get("name") == by_name.group(1):
            named = [k for k in ("host", "port") if k in app and f"{k.title()} " in message]
            return ["applications", i, *(named[:1] or ["name"])]
    return []


def _fix_text(path: list[Any], message: str) -> str:
    if "instead of 'CPU' and 'GPU'" in message:
        return (
            "ask for them with num_cpus/num_gpus in ray_actor_options, not in its resources: Serve refuses them there"
        )
    if "must not contain the key 'memory'" in message:
        return "set memory in ray_actor_options, not in its resources: Serve refuses it there"
    if "multiple configs for application" in message:
        return "give each application a unique name"
    if "duplicate applications for route prefix" in message:
        return "give each application a unique route_prefix"
    return f"change {_last_key(path)} as Ray's message says; Serve refuses this config when it is deployed"


def validate_with_ray(body: LDict, local_working_dirs: bool = False) -> None:
    """Raise InputError at the config's line for the first error Ray's validators report.

    ``local_working_dirs``: a local working_dir path is judged as the URI it becomes once uploaded.
    """
    if ray_version() is None:
        _SKIPPED[0] += 1  # Ray is optional: the caller says once that its validators did not run
        return
    config = plain(body)
    errors = cached_ray_errors(as_uploaded(config) if local_working_dirs else config)
    if not errors:
        return
    path, message = min(errors, key=lambda e: (-len(e[0]), str(e[0])))  # the most precise place first
    path = [p for p in path if isinstance(p, (str, int))]
    if path in ([], ["applications"]):
        path = _app_named_in(body, message) or path
    # pydantic appends the union member or model name to the path; loc_of stops at what exists.
    field = ".".join(str(p) for p in path if not (isinstance(p, str) and p[:1].isupper())) or "(config)"
    raise ServeRefusal(
        loc_of(body, *path),
        f"Serve config `{field}`: {message} (Ray Serve's own validation, Ray {ray_version()})",
        _fix_text(path, message),
    )


def _last_key(path: list[Any]) -> str:
    keys = [p for p in path if isinstance(p, str) and not p[:1].isupper()]
    return f"`{keys[-1]}`" if keys else "the config"
