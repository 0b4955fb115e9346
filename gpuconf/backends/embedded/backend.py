"""The embedded backend as the suites see it: plan → local Ray nodes → LiveCluster."""

from __future__ import annotations

from gpuconf.backends.localray.launcher import start_cluster
from gpuconf.backends.localray.live import live_from_cluster
from gpuconf.backends.localray.specs import pending_pods, specs_from_plan
from gpuconf.live.contract import LiveCluster
from gpuconf.plan import Plan


def start_embedded(plan: Plan) -> LiveCluster:
    """Start one local Ray node per pod the plan schedules; Pending pods are reported, not started."""
    cluster = start_cluster(specs_from_plan(plan))
    return live_from_cluster(cluster, "embedded", pending_pods(plan))
