"""The plan: which pod lands on which node, what each Ray node carries, where each replica can run."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gpuconf.inputs.expectations import Expectations
from gpuconf.inputs.images import ImageEnvRule, image_env
from gpuconf.inputs.limits import MAX_PODS
from gpuconf.inputs.manifests import Inputs, Target
from gpuconf.inputs.resources import INTEL_GPU_DEVICES, gpu_amount, is_nvidia_gpu
from gpuconf.model.admission import added_tolerations
from gpuconf.model.kuberay import GroupModel, cluster_groups
from gpuconf.model.raysched import RayNodeView, ReplicaDemand, demands_from_serve, node_misfit, place_replicas
from gpuconf.model.scheduler import (
    NodeModel,
    PodSpecView,
    choose_node,
    misfit_reasons,
    node_from_doc,
    pod_view,
    unschedulable_message,
)

# Ray sizes its `memory` resource from what the container may use, less the object store.
RAY_AUTODETECT_MEMORY_FRACTION = 0.7
# Labels the suite adds to the Ray nodes it starts (KubeRay sets none of these).
POD_LABEL = "gpuconf.io/pod"
K8S_NODE_LABEL = "gpuconf.io/k8s-node"


@dataclass
class PodPlan:
    """One pod of a group and the node the scheduler binds it to (None: Pending)."""

    name: str
    group: GroupModel
    index: int
    node: str | None
    reasons: dict[str, list[str]]
    # Added by Ray's autoscaler when demand is pending (beyond `replicas`, up to maxReplicas).
    autoscaled: bool = False

    @property
    def pending_message(self) -> str:
        """The FailedScheduling message for a Pending pod."""
        return unschedulable_message(self.reasons)


@dataclass
class RayNodePlan:
    """A Ray node: a scheduled pod whose `ray start` succeeds."""

    pod: PodPlan
    k8s_node: str
    is_gpu_node: bool
    resources: dict[str, float]
    labels: dict[str, str]
    autodetected: list[str] = field(default_factory=list)

    @property
    def autoscaled(self) -> bool:
        """True when this node exists only once the autoscaler scales its group up."""
        return self.pod.autoscaled

    @property
    def name(self) -> str:
        """The pod name stands for the Ray node."""
        return self.pod.name

    @property
    def group(self) -> GroupModel:
        """The group this node's pod belongs to."""
        return self.pod.group


@dataclass
class DeploymentPlan:
    """Where the replicas of one deployment can run."""

    demand: ReplicaDemand
    feasible: list[str]
    misfits: dict[str, list[str]]
    placed: list[str]
    short_of: str | None
    # Replicas the cluster holds at most (every group at maxReplicas), for Serve's max_replicas.
    ceiling: int = 0

    @property
    def unplaced(self) -> int:
        """Replicas that find no room."""
        return self.demand.num_replicas - len(self.placed)


@dataclass
class Plan:
    """Everything the static tier derives from the manifests."""

    target: Target
    expectations: Expectations
    nodes: list[NodeModel]
    groups: list[GroupModel]
    pods: list[PodPlan]
    ray_nodes: list[RayNodePlan]
    deployments: list[DeploymentPlan]

    def ray_node(self, name: str) -> RayNodePlan:
        """Look up a Ray node by pod name."""
        return next(n for n in self.ray_nodes if n.name == name)

    def node(self, name: str) -> NodeModel:
        """Look up a Kubernetes node by name."""
        return next(n for n in self.nodes if n.name == name)

    def could_land_on(self, group: GroupModel, admission: bool | None = None) -> list[str]:
        """Nodes a pod of this group fits on, ignoring what other pods take.

        `admission` overrides whether ExtendedResourceToleration runs (default: the expectations).
        """
        on = self.expectations.extended_resource_toleration if admission is None else admission
        view = admitted_view(group, on)
        empty = [NodeModel(n.name, n.labels, n.taints, n.allocatable, n.unschedulable) for n in self.nodes]
        return [n.name for n in empty if not misfit_reasons(view, n)]

    def gpu_deployment_demands(self) -> list[ReplicaDemand]:
        """Demands of the deployments the expectations say need a GPU."""
        return [
            d.demand for d in self.deployments if self.expectations.gpu_deployment(d.demand.app, d.demand.deployment)
        ]


def container_env(group: GroupModel, expectations: Expectations) -> tuple[dict[str, str], ImageEnvRule | None]:
    """The Ray container's env as the runtime sees it: the image's own env, the pod's `env:` on top.

    Returns the env and the image rule that contributed (None when the image is not a known one).
    """
    from_image, source = image_env(group.image, expectations.image_env)
    return {**from_image, **group.env}, source


def pod_name(cluster: str, group: GroupModel, index: int) -> str:
    """A stable stand-in for the names KubeRay generates."""
    return f"{cluster}-head" if group.is_head else f"{cluster}-{group.name}-worker-{index}"


def admitted_view(group: GroupModel, extended_resource_toleration: bool) -> PodSpecView:
    """The pod as the scheduler sees it, after the admission plugins the cluster runs."""
    view = pod_view(group.template, group.pod_requests)
    if extended_resource_toleration:
        view.tolerations.extend(added_tolerations(group.template))
    return view


def build_plan(inputs: Inputs, target: Target) -> Plan:
    """Run the KubeRay, scheduler and Ray models over one target."""
    expectations = inputs.expectations[0]
    nodes = [node_from_doc(d) for d in inputs.nodes]
    groups = cluster_groups(target.cluster.spec, target.cluster.name)
    pods: list[PodPlan] = []
    admission = expectations.extended_resource_toleration
    for group in groups:
        view = admitted_view(group, admission)
        for i in range(group.replicas):
            chosen, reasons = choose_node(view, nodes)
            pods.append(
                PodPlan(pod_name(target.cluster.name, group, i), group, i, chosen.name if chosen else None, reasons)
            )
    pods.extend(_autoscaled_pods(target.cluster.name, groups, nodes, MAX_PODS - len(pods), admission))
    by_name = {n.name: n for n in nodes}
    ray_nodes = [
        ray_node_for(p, by_name[p.node], expectations)
        for p in pods
        if p.node is not None and p.group.start.error is None
    ]
    deployments = _place(demands_from_serve(target.serve.body), ray_nodes)
    return Plan(target, expectations, nodes, groups, pods, ray_nodes, deployments)


def _autoscaled_pods(
    cluster: str, groups: list[GroupModel], nodes: list[NodeModel], room: int, admission: bool
) -> list[PodPlan]:
    """The pods the autoscaler can add, group by group, after the fixed ones are bound.

    Capacity is judged at maxReplicas. The node pool is fixed, so once one added pod of a
    group finds no node the next ones would not either: that pod is kept (Pending, to say
    why the group stops there) and the group's scale-up ends.
    """
    out: list[PodPlan] = []
    for group in groups:
        view = admitted_view(group, admission)
        for i in range(group.replicas, group.replicas + group.autoscale_extra):
            if len(out) >= room:
                return out
            chosen, reasons = choose_node(view, nodes)
            out.append(PodPlan(pod_name(cluster, group, i), group, i, chosen.name if chosen else None, reasons, True))
            if chosen is None:
                break
    return out


def ray_node_for(pod: PodPlan, node: NodeModel, expectations: Expectations) -> RayNodePlan:
    """The resources and labels Ray gives a node started from this pod's command."""
    group = pod.group
    res = group.start.resources()
    auto = []
    if "CPU" not in res:
        res["CPU"] = float(node.allocatable.get("cpu", Decimal(0)))
        auto.append("CPU (from the node: the container has no cpu limit)")
    if "GPU" not in res:
        # Ray counts the devices the container sees: those the device plugin gave it
        # (its limit), or every GPU of the node when the image leaks them
        # (NVIDIA_VISIBLE_DEVICES=all, KubeRay issue 2098).
        leak = container_env(group, expectations)[0].get("NVIDIA_VISIBLE_DEVICES") == "all"
        # Ray counts Intel GPUs only through dpctl, which Ray's images do not ship
        # (ray/_private/accelerators/intel_gpu.py): without --num-gpus they count 0.
        intel = group.gpu_limit(lambda n: n in INTEL_GPU_DEVICES)
        limit = float(group.gpu_limit(lambda n: expectations.is_gpu_resource(n) and n not in INTEL_GPU_DEVICES))
        # Only NVIDIA's runtime reads NVIDIA_VISIBLE_DEVICES, and the device plugin overrides it where the
        # container has an NVIDIA limit.
        nvidia = group.gpu_limit(is_nvidia_gpu) > 0
        res["GPU"] = float(gpu_amount(node.allocatable, is_nvidia_gpu)) if leak and not nvidia else limit
        leak = leak and not nvidia
        auto.append(
            "GPU (autodetected: "
            + (
                "NVIDIA_VISIBLE_DEVICES=all (pod or image env) exposes the node's GPUs)"
                if leak
                else f"the container sees the {limit:g} device(s) of its limit)"
            )
        )
        if intel > 0:
            auto.append(
                f"GPU: the {intel:g} Intel GPU(s) of the limit count 0 unless the image has dpctl; "
                "KubeRay adds no --num-gpus for gpu.intel.com/*: set rayStartParams num-gpus"
            )
    if "memory" not in res:
        memory = group.container_limits.get("memory") or node.allocatable.get("memory", Decimal(0))
        res["memory"] = float(memory) * RAY_AUTODETECT_MEMORY_FRACTION
        auto.append("memory (autodetected, about 70% of what the container may use)")
    labels = {"ray.io/node-group": group.label, **group.start.labels(), POD_LABEL: pod.name, K8S_NODE_LABEL: node.name}
    return RayNodePlan(
        pod,
        node.name,
        expectations.is_gpu_node(node.labels, node.allocatable),
        {k: v for k, v in res.items() if v > 0},
        labels,
        auto,
    )


def _place(demands: list[ReplicaDemand], ray_nodes: list[RayNodePlan]) -> list[DeploymentPlan]:
    views = [RayNodeView(n.name, n.resources, n.labels) for n in ray_nodes]
    out = []
    for demand in demands:
        misfits = {v.name: node_misfit(demand, v) for v in views}
        feasible = [name for name, rs in misfits.items() if not rs]
        placed, short = place_replicas(demand, views)
        ceiling = len(placed)
        if demand.max_replicas is not None and demand.max_replicas > demand.num_replicas:
            # What is left after the initial replicas, tried one replica beyond max_replicas.
            more = ReplicaDemand(
                demand.app,
                demand.deployment,
                demand.max_replicas - demand.num_replicas,
                demand.resources,
                demand.label_selector,
                None,
                None,
            )
            # Tried on a copy: the extra replicas are only a ceiling and take no room from later deployments.
            ceiling += len(place_replicas(more, copy.deepcopy(views))[0])
        out.append(DeploymentPlan(demand, feasible, misfits, placed, short, ceiling))
    return out


def summary(plan: Plan) -> dict[str, Any]:
    """The plan as plain data (for JSON output and the embedded launcher's report)."""
    return {
        "target": plan.target.name,
        "pods": [
            {
                "pod": p.name,
                "group": p.group.name,
                "node": p.node,
                "autoscaled": p.autoscaled,
                "pending": None if p.node else p.pending_message,
                "ray_start": p.group.command.strip(),
                "ray_start_error": p.group.start.error,
            }
            for p in plan.pods
        ],
        "ray_nodes": [
            {
                "pod": n.name,
                "k8s_node": n.k8s_node,
                "gpu_node": n.is_gpu_node,
                "autoscaled": n.autoscaled,
                "resources": n.resources,
                "labels": n.labels,
            }
            for n in plan.ray_nodes
        ],
    }
