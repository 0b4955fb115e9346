"""The head pod's dashboard port, as its real `ray start` command sets it."""

from __future__ import annotations

from gpuconf.kube.objects import PodInfo
from gpuconf.model.raystart import parse_ray_start
from gpuconf.model.shell import bash_words

DASHBOARD_PORT = 8265


def dashboard_port(head: PodInfo) -> int:
    """The head's dashboard port: `--dashboard-port` of its real `ray start`, else Ray's default."""
    try:
        options = parse_ray_start(bash_words(head.ray_start_cmd or "")).options
        return int(options.get("dashboard-port") or DASHBOARD_PORT)
    except (ValueError, TypeError):
        return DASHBOARD_PORT
