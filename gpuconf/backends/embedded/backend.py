"""The embedded backend as the suites see it: plan → local Ray nodes → LiveCluster."""

from __future__ import annotations

from dataclasses import dataclass, field

from gpuconf.backends.localray.launcher import start_cluster
from gpuconf.backends.localray.live import live_from_cluster
from gpuconf.backends.localray.specs import pending_pods, specs_from_plan
from gpuconf.live.contract import Capability, LiveCluster
from gpuconf.live.settings import Settings
from gpuconf.model.plan import Plan


def start_embedded(plan: Plan) -> LiveCluster:
    """Start one local Ray node per pod the plan schedules; Pending pods are reported, not started."""
    # Ray cannot be told to listen on loopback only: the run gets a network namespace with only `lo`.
    cluster = start_cluster(specs_from_plan(plan), private_network=True)
    return live_from_cluster(cluster, "embedded", pending_pods(plan))


@dataclass(frozen=True)
class EmbeddedBackend:
    """Local Ray processes, one per pod the plan schedules; no Kubernetes."""

    name: str = "embedded"
    summary: str = "the plan's pods as local Ray nodes (no Kubernetes)"
    capabilities: frozenset[Capability] = field(default_factory=lambda: frozenset({Capability.RAY}))

    def start(self, plan: Plan, options: Settings) -> LiveCluster:
        """See start_embedded (the options change nothing here)."""
        return start_embedded(plan)


BACKEND = EmbeddedBackend()
