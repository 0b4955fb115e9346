"""Scaling on a real cluster: opt-in (`--allow-scaling`), bounded by a time budget, and restoring what it found.

Scaling a real cluster costs money (a node autoscaler adds GPU nodes), so the cluster backend offers
the `autoscaling` capability only when the run asks for it. The scaling checks' samples go through
`refresh()`, which charges a budget that starts at the first one; once it is spent every further
refresh raises :class:`ScalingBudgetSpent`, so the running check and the ones after it fail at once.
Each worker group's replicas, minReplicas and maxReplicas are recorded at start and patched back
where they changed; the run's own namespace is deleted at stop anyway, so this matters when it is
kept (`--keep-on-failure`), or for a RayCluster the run did not create.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from gpuconf.live.contract import Capability
from gpuconf.live.settings import Settings

NEEDS_ALLOW_SCALING = "changes the cluster's size: pass --allow-scaling"
# The fields of a worker group the scaling checks (and Ray's autoscaler) may change.
SCALED_FIELDS = ("replicas", "minReplicas", "maxReplicas")
JSON_PATCH = "application/json-patch+json"


def withheld_capabilities(settings: Settings) -> dict[Capability, str]:
    """Capabilities the cluster backend has but does not offer this run, each with the skip reason."""
    return {} if settings.allow_scaling else {Capability.AUTOSCALING: NEEDS_ALLOW_SCALING}


class ScalingBudgetSpent(BaseException):
    """The --scaling-budget is spent. A BaseException, like pytest's own fail, so that a bounded wait
    (which retries a probe that raises an Exception) ends at once instead of polling on."""


@dataclass
class ScalingBudget:
    """Seconds the scaling checks may take together, counted from the first charge (the first refresh)."""

    seconds: float
    clock: Any = time.monotonic
    started: float | None = None

    def charge(self) -> float:
        """Start the budget on the first call; raise ScalingBudgetSpent once it is spent. Returns seconds left."""
        now = float(self.clock())
        if self.started is None:
            self.started = now
        used = now - self.started
        if used > self.seconds:
            raise ScalingBudgetSpent(
                f"the scaling budget is spent: {used:.0f}s of --scaling-budget {self.seconds:.0f}s used since the "
                "first scaling sample; the scaling checks stop here (raise --scaling-budget for a slow node autoscaler)"
            )
        return self.seconds - used


class RayClusterApi(Protocol):
    """What restoring needs of the API server (gpuconf.kube.client.KubeClient has it; tests pass a fake)."""

    def read_raycluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The RayCluster object (None when absent)."""
        ...

    def patch_raycluster(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        """Apply a JSON patch to the RayCluster."""
        ...


def scaled_fields(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each worker group's replicas/minReplicas/maxReplicas, by group name (absent fields left out)."""
    groups = (obj.get("spec") or {}).get("workerGroupSpecs") or []
    return {
        str(g.get("groupName")): {k: g[k] for k in SCALED_FIELDS if k in g}
        for g in groups
        if isinstance(g, dict) and g.get("groupName")
    }


def restore_ops(found: dict[str, dict[str, Any]], now: dict[str, Any]) -> list[dict[str, Any]]:
    """JSON-patch ops putting each group's scaled fields back to `found`. Each group is addressed by its
    index, guarded by a `test` of its groupName, so a reordered list fails the patch instead of writing
    one group's count into another."""
    ops: list[dict[str, Any]] = []
    for i, group in enumerate((now.get("spec") or {}).get("workerGroupSpecs") or []):
        name = str(group.get("groupName"))
        was = found.get(name)
        if was is None:
            continue  # a group added since: not ours to change
        changes: list[dict[str, Any]] = []
        for key in SCALED_FIELDS:
            path = f"/spec/workerGroupSpecs/{i}/{key}"
            if key in was and group.get(key) != was[key]:
                changes.append({"op": "replace" if key in group else "add", "path": path, "value": was[key]})
            elif key not in was and key in group:
                changes.append({"op": "remove", "path": path})
        if changes:
            ops += [{"op": "test", "path": f"/spec/workerGroupSpecs/{i}/groupName", "value": name}, *changes]
    return ops


@dataclass
class ReplicaRestore:
    """The worker groups of one RayCluster as found at start, and the patch that puts them back."""

    api: RayClusterApi
    namespace: str
    name: str
    found: dict[str, dict[str, Any]] = field(default_factory=dict)
    restored: list[dict[str, Any]] | None = None

    @classmethod
    def record(cls, api: RayClusterApi, namespace: str, name: str) -> ReplicaRestore:
        """Read the RayCluster now and remember each worker group's scaled fields."""
        obj = api.read_raycluster(namespace, name) or {}
        return cls(api, namespace, name, scaled_fields(obj))

    def restore(self) -> list[dict[str, Any]]:
        """Patch back what changed since `record` (nothing when the RayCluster is gone); returns the ops sent.
        Runs once: a second call (stop after keep) sends nothing."""
        if self.restored is not None:
            return []
        self.restored = []
        now = self.api.read_raycluster(self.namespace, self.name)
        if now is None:
            return []
        ops = restore_ops(self.found, now)
        if ops:
            self.api.patch_raycluster(self.namespace, self.name, ops)
        self.restored = ops
        return ops

    def evidence(self) -> dict[str, Any]:
        """What was found, and what restoring patched (None: not restored yet)."""
        return {"raycluster": f"{self.namespace}/{self.name}", "found": self.found, "restored": self.restored}


@dataclass
class KubeRayClusterApi:
    """RayClusterApi over gpuconf.kube.client.KubeClient (reads through it, JSON-patches its custom API)."""

    kube: Any

    def read_raycluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The RayCluster object (None when absent)."""
        found: dict[str, Any] | None = self.kube.read_raycluster(namespace, name)
        return found

    def patch_raycluster(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        """Apply a JSON patch to the RayCluster."""
        from gpuconf.kube.client import RAY_GROUP, RAY_VERSION, RAYCLUSTERS

        self.kube.custom.patch_namespaced_custom_object(
            RAY_GROUP,
            RAY_VERSION,
            namespace,
            RAYCLUSTERS,
            name,
            ops,
            _content_type=JSON_PATCH,
            _request_timeout=self.kube.timeout,
        )
