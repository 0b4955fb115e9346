"""The real cluster as a Serve target: the config as deployed there, and the Ray nodes alive now."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpuconf.inputs.manifests import plain
from gpuconf.live.serve import set_model
from gpuconf.model.raysched import RayNodeView

ENTRYPOINTS_PREFIX = "entrypoints."


def cluster_serve_config(body: Any, model: str | None, working_dir_uri: str | None) -> dict[str, Any]:
    """The Serve config as deployed on a real cluster: the user's, as given.

    HTTP options stay the user's (the proxies run in the pods). Only when gpuconf's `entrypoints/`
    was shipped (`working_dir_uri`: the reference manifests, or --ship-entrypoints=yes) do apps
    importing `entrypoints.*` that name no working_dir of their own get it.
    """
    config = copy.deepcopy(plain(body))
    for app in config.get("applications", []):
        if working_dir_uri and str(app.get("import_path", "")).startswith(ENTRYPOINTS_PREFIX):
            runtime_env = app.setdefault("runtime_env", {})
            runtime_env.setdefault("working_dir", working_dir_uri)
    set_model(config, model)
    return config


def http_port(config: dict[str, Any]) -> int:
    """The Serve proxy port the config asks for (Serve's default 8000)."""
    return int((config.get("http_options") or {}).get("port") or 8000)


def alive_ray_nodes(dashboard_url: str) -> list[Any]:
    """The alive Ray nodes, with resources and labels (Ray's state API over the dashboard)."""
    from ray.util.state import list_nodes

    return list_nodes(
        address=dashboard_url, filters=[("state", "=", "ALIVE")], detail=True, raise_on_missing_output=False
    )


@dataclass
class ClusterTarget:
    """The deploy target of a real cluster, reached through `dashboard_url` and `serve_url`."""

    dashboard_url: str
    serve_url: str
    working_dir_uri: str | None
    unready_pods: list[str] = field(default_factory=list)
    # Uploads gpuconf's entrypoints/ (the benchmark twins' code) on first need; returns its gcs:// URI.
    upload: Callable[[], str] | None = None
    _own_code: str | None = None

    def gpuconf_code_uri(self) -> str | None:
        """The working_dir of gpuconf's own apps (the benchmark twins), uploaded once when first asked for."""
        if self._own_code is None:
            self._own_code = self.working_dir_uri or (self.upload() if self.upload else None)
        return self._own_code

    def serve_config(self, body: Any, model: str | None, client: Any) -> tuple[dict[str, Any], str]:
        """The config with the uploaded working_dir, and the forwarded Serve URL."""
        return cluster_serve_config(body, model, self.working_dir_uri), self.serve_url

    def node_views(self) -> list[RayNodeView]:
        """Alive Ray nodes with their total resources and labels."""
        return [
            RayNodeView(
                f"{(n.labels or {}).get('ray.io/node-group', 'node')}:{n.node_id[:8]}",
                {k: float(v) for k, v in (n.resources_total or {}).items()},
                dict(n.labels or {}),
            )
            for n in alive_ray_nodes(self.dashboard_url)
        ]

    def never_joined(self) -> list[str]:
        """Pods bound to a node that never became Ready (their Ray node did not join)."""
        return list(self.unready_pods)


def serve_code_note(body: Any, working_dir_uri: str | None) -> str:
    """Which code the Serve apps run, for the report."""
    apps = [
        a for a in plain(body).get("applications", []) if str(a.get("import_path", "")).startswith(ENTRYPOINTS_PREFIX)
    ]
    if working_dir_uri and apps:
        names = ", ".join(str(a.get("name", "default")) for a in apps)
        return f"Serve apps {names} run gpuconf's entrypoints/ (uploaded as {working_dir_uri}); the others run as given"
    return "Serve apps run as given: the code of the image or of each app's own runtime_env (gpuconf shipped none)"
