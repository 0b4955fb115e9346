"""The static backend: no Ray at all, only the static checks of the manifests run."""

from __future__ import annotations

from dataclasses import dataclass, field

from gpuconf.errors import EnvironmentFailure
from gpuconf.live.contract import Capability, LiveCluster
from gpuconf.live.settings import Settings
from gpuconf.model.plan import Plan


@dataclass(frozen=True)
class StaticBackend:
    """Provides no capability, so every live check skips with the reason."""

    summary: str = "no Ray: only the static checks of the manifests"
    capabilities: frozenset[Capability] = field(default_factory=frozenset)

    def start(self, plan: Plan, options: Settings) -> LiveCluster:
        """Never called: the plugin skips every check that needs a running cluster."""
        raise EnvironmentFailure("the static backend runs no Ray")


BACKEND = StaticBackend()
