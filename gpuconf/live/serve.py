"""Deploy a Serve config through the dashboard's REST API (what `serve deploy` does) and wait for RUNNING.

A deployment that cannot be placed fails fast: each poll checks Ray's own status
(DEPLOY_FAILED, Serve's messages) and whether any live node can hold a replica
at all, with the plan's explanation attached.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gpuconf.host.ports import free_port
from gpuconf.inputs.manifests import plain
from gpuconf.model.raysched import RayNodeView, demands_from_serve, node_misfit, place_replicas
from gpuconf.waits import WaitTimeout, wait_until


class ServeTarget(Protocol):
    """Where a Serve config is deployed: a local cluster, or a real one behind port-forwards."""

    dashboard_url: str

    def serve_config(self, body: Any, model: str | None, client: Any) -> tuple[dict[str, Any], str]:
        """The config as deployed there, and the HTTP URL its routes answer on."""

    def node_views(self) -> list[RayNodeView]:
        """The Ray nodes alive now, as the placement model sees them."""

    def never_joined(self) -> list[str]:
        """Pods whose Ray node never joined, each with why."""


class DeployFailed(RuntimeError):
    """The Serve app cannot become RUNNING; the message says why (Ray's words and the plan's)."""


@dataclass
class DeployedServe:
    """A Serve config running on the cluster."""

    config: dict[str, Any]
    http_url: str
    details: dict[str, Any]
    running_s: float
    routes: dict[str, str] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    # app -> the local working_dir uploaded for it (and its gcs:// URI)
    shipped: dict[str, str] = field(default_factory=dict)


def localize_config(body: Any, http_port: int, model: str | None = None) -> dict[str, Any]:
    """The Serve config as deployed here: HTTP on loopback at a free port, proxies on the head only."""
    config = copy.deepcopy(plain(body))
    # All local nodes share one host, so one proxy (on the head) serves HTTP.
    config["proxy_location"] = "HeadOnly"
    config["http_options"] = {**config.get("http_options", {}), "host": "127.0.0.1", "port": http_port}
    set_model(config, model)
    return config


def set_model(config: dict[str, Any], model: str | None) -> None:
    """Override the `model` arg of every MLService app (`--model`); nothing when `model` is None."""
    if model:
        for app in config.get("applications", []):
            if str(app.get("import_path", "")).endswith(":build_ml_service"):
                app.setdefault("args", {})["model"] = model


def local_serve_config(body: Any, model: str | None, client: Any) -> tuple[dict[str, Any], str]:
    """The config and HTTP URL for a cluster whose nodes all run on this host."""
    # A running Serve keeps the HTTP options it started with: reuse its port.
    port = running_http_port(client) or free_port()
    return localize_config(body, port, model), f"http://127.0.0.1:{port}"


def ship_local_working_dirs(config: dict[str, Any], client: Any, base: Path | None) -> dict[str, str]:
    """Upload each app's local ``runtime_env.working_dir`` path through the dashboard's package API, as
    ``serve run`` does, and put the ``gcs://`` URI in its place; return {app: what was shipped}.

    A relative path is read from ``base`` (the Serve config's folder). URIs (``local://`` for a folder
    already in the image, ``gcs://``, ``s3://``, …) are left as they are: Serve reads them itself.
    """
    shipped = {}
    for app in config.get("applications", []):
        runtime_env = app.get("runtime_env") or {}
        wd = runtime_env.get("working_dir")
        if not isinstance(wd, str) or "://" in wd:
            continue
        folder = Path(wd) if Path(wd).is_absolute() or base is None else base / wd
        if not folder.exists():
            raise DeployFailed(
                f"{app.get('name', 'default')}: runtime_env.working_dir {wd!r} is a local path, but {folder} does not "
                "exist; give the folder of the app's code (relative to the Serve config), or a URI"
            )
        runtime_env = {**runtime_env, "working_dir": str(folder.resolve())}
        client._upload_working_dir_if_needed(runtime_env)  # Ray's own upload: content-addressed, idempotent
        app["runtime_env"] = runtime_env
        shipped[str(app.get("name", "default"))] = f"{folder} uploaded as {runtime_env['working_dir']}"
    return shipped


def deploy(
    cluster: ServeTarget,
    serve_body: Any,
    model: str | None = None,
    explain: dict[str, str] | None = None,
    base: Path | None = None,
) -> DeployedServe:
    """Deploy and wait until every application is RUNNING, or fail fast with the reason.

    ``base``: the Serve config's folder, which relative local working_dirs are read from.
    """
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    client = ServeSubmissionClient(cluster.dashboard_url)
    config, http_url = cluster.serve_config(serve_body, model, client)
    shipped = ship_local_working_dirs(config, client, base)
    started = time.monotonic()
    client.deploy_applications(config)
    apps = [a.get("name", "default") for a in config.get("applications", [])]

    def running() -> dict[str, Any] | None:
        details = client.get_serve_details()
        statuses = {name: (details.get("applications", {}).get(name) or {}).get("status") for name in apps}
        failed = {n: s for n, s in statuses.items() if s == "DEPLOY_FAILED"}
        if failed:
            raise DeployFailed(_describe(details, failed, explain))
        return details if all(s == "RUNNING" for s in statuses.values()) else None

    def unplaceable() -> str | None:
        return placement_problem(cluster, config, explain)

    try:
        details = wait_until(
            running,
            f"Serve apps {apps} to be RUNNING",
            tier="serve_app",
            interval=0.5,
            fail_fast=unplaceable,
            fatal=(DeployFailed,),
        )
    except WaitTimeout as exc:
        raise DeployFailed(str(exc)) from None
    routes = {a.get("name", "default"): a.get("route_prefix", "/") for a in config["applications"]}
    replicas = {
        a.get("name", "default"): sum(
            int(d.get("num_replicas", 1)) if d.get("num_replicas") != "auto" else 1 for d in a.get("deployments", [])
        )
        or 1
        for a in config["applications"]
    }
    return DeployedServe(config, http_url, details, round(time.monotonic() - started, 2), routes, replicas, shipped)


def running_http_port(client: Any) -> int | None:
    """The HTTP port of the Serve instance already running on the cluster, if any."""
    try:
        details = client.get_serve_details()
    except Exception:  # no Serve yet: the dashboard may answer 404/500 before the first deploy
        return None
    if not details.get("controller_info", {}).get("node_id") and not details.get("applications"):
        return None
    port = (details.get("http_options") or {}).get("port")
    return int(port) if port else None


def placement_problem(cluster: ServeTarget, config: dict[str, Any], explain: dict[str, str] | None) -> str | None:
    """Why some replica can never be placed on the live nodes (None when all can)."""
    views = cluster.node_views()
    problems = []
    for demand in demands_from_serve(config):
        misfits = {v.name: node_misfit(demand, v) for v in views}
        if not any(not rs for rs in misfits.values()):
            why = "; ".join(f"{n}: {', '.join(rs)}" for n, rs in misfits.items())
            problems.append(f"{demand.key} fits no live Ray node ({why})")
            continue
        placed, short = place_replicas(demand, [RayNodeView(v.name, v.resources, v.labels) for v in views])
        if len(placed) < demand.num_replicas:
            problems.append(f"{demand.key}: room for {len(placed)} of {demand.num_replicas} replicas (out of {short})")
    if not problems:
        return None
    text = "cannot be placed: " + " | ".join(problems)
    failed = cluster.never_joined()
    if failed:
        text += " | nodes that never joined: " + ", ".join(failed)
    if explain:
        text += " | the plan: " + " | ".join(f"{k}: {v}" for k, v in explain.items())
    return text


def _describe(details: dict[str, Any], failed: dict[str, str], explain: dict[str, str] | None) -> str:
    parts = []
    for name in failed:
        app = details.get("applications", {}).get(name) or {}
        parts.append(f"{name}: {app.get('message', '')}")
        for dep_name, dep in (app.get("deployments") or {}).items():
            if dep.get("message"):
                parts.append(f"{name}/{dep_name}: {dep['message']}")
    if explain:
        parts += [f"plan: {k}: {v}" for k, v in explain.items()]
    return "Serve deploy failed: " + " | ".join(parts)


def delete_all(cluster: ServeTarget) -> None:
    """Delete every Serve application (apps are cleaned between tests)."""
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    client = ServeSubmissionClient(cluster.dashboard_url)
    client.delete_applications()
    wait_until(
        lambda: not client.get_serve_details().get("applications"),
        "Serve applications to be deleted",
        tier="serve_app",
        interval=0.5,
    )
