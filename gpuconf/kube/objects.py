"""Plain views of the Kubernetes objects the suites read: pods, nodes, scheduling events.

Built from the official client's models so that checks and the fidelity comparison
never touch the client's types (and a future real-cluster backend reads the same shape).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gpuconf.inputs.quantity import quantity
from gpuconf.inputs.resources import GpuPredicate, gpu_amount

RAY_START_ENV = "KUBERAY_GEN_RAY_START_CMD"


def _quantities(raw: dict[str, Any] | None) -> dict[str, Decimal]:
    out = {}
    for key, value in (raw or {}).items():
        try:
            out[str(key)] = quantity(value, None, key)
        except Exception:  # an odd quantity is the API server's problem, not ours: skip it
            continue
    return out


@dataclass
class PodInfo:
    """One pod of a RayCluster as the API server has it (the Ray container is the first)."""

    name: str
    namespace: str
    node: str | None
    phase: str
    ready: bool
    labels: dict[str, str]
    env: dict[str, str]
    limits: dict[str, Decimal]
    tolerations: list[dict[str, Any]]
    created: str = ""
    failed_scheduling: str | None = None
    ip: str | None = None
    container: str = ""
    image: str = ""  # the Ray container's image
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """KubeRay's `ray.io/group` label (`headgroup` for the head)."""
        return self.labels.get("ray.io/group", "")

    @property
    def is_head(self) -> bool:
        """`ray.io/node-type == head`."""
        return self.labels.get("ray.io/node-type") == "head"

    @property
    def ray_start_cmd(self) -> str | None:
        """The `ray start` command KubeRay generated for this pod."""
        return self.env.get(RAY_START_ENV)

    def gpu_limit(self, resource: str | GpuPredicate = "nvidia.com/gpu") -> Decimal:
        """The Ray container's limit of the GPU resource (0 when absent).

        `resource` is one name, or a predicate (Expectations.is_gpu_resource) whose names are summed:
        a MIG slice or an AMD GPU is a GPU as KubeRay counts it.
        """
        if callable(resource):
            return gpu_amount(self.limits, resource)
        return self.limits.get(resource, Decimal(0))

    def as_evidence(self) -> dict[str, Any]:
        """The facts a check cites."""
        return {
            "pod": self.name,
            "node": self.node,
            "phase": self.phase,
            "group": self.group,
            "limits": {k: str(v) for k, v in self.limits.items()},
            "tolerations": self.tolerations,
            "failed_scheduling": self.failed_scheduling,
        }


@dataclass
class NodeInfo:
    """One Kubernetes node: labels, taints, allocatable."""

    name: str
    labels: dict[str, str]
    taints: list[dict[str, str]]
    allocatable: dict[str, Decimal] = field(default_factory=dict)

    def as_evidence(self) -> dict[str, Any]:
        """The facts a check cites."""
        return {
            "node": self.name,
            "labels": self.labels,
            "taints": self.taints,
            "allocatable": {k: str(v) for k, v in self.allocatable.items()},
        }


def pod_info(pod: Any) -> PodInfo:
    """A PodInfo from a V1Pod."""
    container = pod.spec.containers[0]  # KubeRay's Ray container is index 0 unless configured otherwise
    env = {e.name: e.value or "" for e in container.env or [] if e.value_from is None}
    limits = _quantities((container.resources.limits if container.resources else None) or {})
    ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
    tolerations = [
        {
            k: v
            for k, v in {"key": t.key, "operator": t.operator, "value": t.value, "effect": t.effect}.items()
            if v is not None
        }
        for t in pod.spec.tolerations or []
    ]
    return PodInfo(
        pod.metadata.name,
        pod.metadata.namespace,
        pod.spec.node_name,
        pod.status.phase or "",
        ready,
        dict(pod.metadata.labels or {}),
        env,
        limits,
        tolerations,
        str(pod.metadata.creation_timestamp or ""),
        ip=pod.status.pod_ip,
        container=container.name,
        image=container.image or "",
        annotations=dict(pod.metadata.annotations or {}),
    )


def node_info(node: Any) -> NodeInfo:
    """A NodeInfo from a V1Node."""
    taints = [
        {k: v for k, v in {"key": t.key, "value": t.value, "effect": t.effect}.items() if v is not None}
        for t in node.spec.taints or []
    ]
    return NodeInfo(
        node.metadata.name,
        dict(node.metadata.labels or {}),
        taints,
        _quantities(node.status.allocatable if node.status else None),
    )
