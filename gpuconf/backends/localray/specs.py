"""What to start for each pod: its `ray start` argv, its env, the GPUs it was given."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gpuconf.model.gpushare import GpuHolder, physical_gpus
from gpuconf.model.plan import Plan, container_env
from gpuconf.model.raynode import leaks_all_gpus
from gpuconf.model.shell import bash_words


@dataclass
class NodeSpec:
    """One pod to stand up as a local Ray node."""

    pod: str
    k8s_node: str
    group: str
    is_head: bool
    argv: list[str]
    env: dict[str, str]
    # GPUs Kubernetes hands the Ray container: its GPU-resource limit, or the devices DRA allocated
    # to the claims it lists.
    gpus_held: int
    gpu_node: bool
    planned_resources: dict[str, float] = field(default_factory=dict)
    # The container sees every GPU of its node (gpuconf.model.raynode.leaks_all_gpus): on a GPU host
    # its processes are left every device, as the runtime would leave them.
    sees_all_gpus: bool = False
    # The physical GPU behind each GPU it holds (gpuconf.model.gpushare): replicas of one GPU under
    # time-slicing or MPS name it twice, or in two pods.
    physical_gpus: tuple[str, ...] = ()


def specs_from_plan(plan: Plan) -> list[NodeSpec]:
    """Every pod the plan binds to a node, head first (pods left Pending are not started)."""
    out = []
    for pod in plan.pods:
        if pod.node is None:
            continue
        group = pod.group
        try:
            argv = bash_words(group.command)
        except ValueError:
            argv = group.command.split()
        planned = next((n.resources for n in plan.ray_nodes if n.name == pod.name), {})
        out.append(
            NodeSpec(
                pod=pod.name,
                k8s_node=pod.node,
                group=group.label,
                is_head=group.is_head,
                argv=argv,
                env=dict(group.env),
                gpus_held=int(group.gpu_limit(plan.expectations.is_gpu_resource)),
                gpu_node=plan.expectations.is_gpu_node(plan.node(pod.node).labels, plan.node(pod.node).allocatable),
                planned_resources=dict(planned),
                sees_all_gpus=leaks_all_gpus(container_env(group, plan.expectations)[0], group.container_limits),
            )
        )
    return with_physical_gpus(
        sorted(out, key=lambda s: not s.is_head),
        {n.name: n.labels for n in plan.nodes},
        {n.name: int(plan.expectations.gpus(n.allocatable)) for n in plan.nodes},
    )


def with_physical_gpus(
    specs: list[NodeSpec], node_labels: Mapping[str, Mapping[str, str]], node_gpus: Mapping[str, int]
) -> list[NodeSpec]:
    """The specs, each with the physical GPUs behind the GPUs its pod holds (in the specs' order)."""
    held = physical_gpus([GpuHolder(s.pod, s.k8s_node, s.gpus_held) for s in specs], node_labels, node_gpus)
    return [replace(s, physical_gpus=tuple(held.get(s.pod, ()))) for s in specs]


def pending_pods(plan: Plan) -> list[dict[str, str]]:
    """Pods the plan leaves Pending, with the scheduler's reason (reported, not started)."""
    return [{"pod": p.name, "group": p.group.label, "reason": p.pending_message} for p in plan.pods if p.node is None]
