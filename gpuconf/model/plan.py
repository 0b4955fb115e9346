"""The plan: which pod lands on which node, what each Ray node carries, where each replica can run."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gpuconf.inputs.expectations import Expectations
from gpuconf.inputs.images import ImageEnvRule
from gpuconf.inputs.limits import MAX_PODS
from gpuconf.inputs.manifests import Inputs, Target
from gpuconf.model.admission import added_tolerations
from gpuconf.model.dra import Allocation, devices_for_node, extended_resource_classes, pod_claims
from gpuconf.model.gang import BatchScheduler, batch_scheduler, gang_sizes, kai_fraction
from gpuconf.model.kuberay import GroupModel, cluster_groups
from gpuconf.model.raynode import RayPod, ray_node_resources
from gpuconf.model.raynode import container_env as image_container_env
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
    # The DRA devices the pod got on its node (None without a node or without DRA).
    dra: Allocation | None = None
    # Why a gang scheduler holds this pod although it fits a node (gpuconf.model.gang).
    gang_held: str | None = None

    @property
    def pending_message(self) -> str:
        """The FailedScheduling message for a Pending pod (or why its batch scheduler holds it although it fits)."""
        if self.gang_held and any(not r for r in self.reasons.values()):
            return self.gang_held
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
    # A GPU is there but the node's labels do not show its model (no GFD product label):
    # accelerator_type / ray.io/accelerator-type requests cannot be judged on it.
    model_unknown: bool = False

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
    # The batch scheduler KubeRay hands the pods to (None: kube-scheduler alone).
    batch: BatchScheduler | None = None

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

    def is_gpu_node(self, name: str) -> bool:
        """Whether the Kubernetes node of this name is a GPU node (labels, allocatable GPUs or DRA GPUs)."""
        return is_gpu_node(self.expectations, self.node(name))

    def gpu_deployment_demands(self) -> list[ReplicaDemand]:
        """Demands of the deployments the expectations say need a GPU."""
        return [
            d.demand for d in self.deployments if self.expectations.gpu_deployment(d.demand.app, d.demand.deployment)
        ]


def is_gpu_node(expectations: Expectations, node: NodeModel) -> bool:
    """A GPU node by the expectations, counting the GPUs a ResourceSlice publishes for it."""
    return expectations.is_gpu_node(node.labels, node.allocatable, dra_gpu_count(node))


def dra_gpu_count(node: NodeModel) -> int:
    """The GPUs the pool's ResourceSlices publish for this node."""
    return sum(1 for d in node.dra if d.is_gpu)


def node_gpus(expectations: Expectations, node: NodeModel) -> dict[str, Decimal]:
    """The node's GPUs by road: the expected device-plugin resource's allocatable, and the DRA GPU devices."""
    return {
        f"allocatable {expectations.gpu_resource}": Decimal(expectations.gpus(node.allocatable)),
        "DRA GPU devices": Decimal(dra_gpu_count(node)),
    }


def container_env(group: GroupModel, expectations: Expectations) -> tuple[dict[str, str], ImageEnvRule | None]:
    """The Ray container's env as the runtime sees it: the image's own env, the pod's `env:` on top.

    Returns the env and the image rule that contributed (None when the image is not a known one).
    """
    return image_container_env(group.image, group.env, expectations)


def pod_name(cluster: str, group: GroupModel, index: int) -> str:
    """A stable stand-in for the names KubeRay generates."""
    return f"{cluster}-head" if group.is_head else f"{cluster}-{group.name}-worker-{index}"


def admitted_view(group: GroupModel, extended_resource_toleration: bool) -> PodSpecView:
    """The pod as the scheduler sees it, after the admission plugins the cluster runs."""
    view = pod_view(group.template, group.pod_requests)
    view.claims = group.dra
    view.ext_classes = group.dra_ext_classes
    if extended_resource_toleration:
        view.tolerations.extend(added_tolerations(group.template))
    return view


def build_plan(inputs: Inputs, target: Target) -> Plan:
    """Run the KubeRay, scheduler and Ray models over one target."""
    expectations = inputs.expectations[0]
    nodes = [node_from_doc(d) for d in inputs.nodes]
    for n in nodes:
        n.dra = devices_for_node(inputs.resource_slices, n.name, n.labels)
    groups = cluster_groups(target.cluster.spec, target.cluster.name)
    ext_classes = extended_resource_classes(inputs.device_classes)
    for g in groups:
        claims = pod_claims(g.template, inputs.claim_templates, inputs.device_classes)
        g.dra = claims if claims.requests or claims.unread else None
        g.dra_ext_classes = ext_classes
    pods: list[PodPlan] = []
    admission = expectations.extended_resource_toleration
    for group in groups:
        view = admitted_view(group, admission)
        for i in range(group.replicas):
            chosen, reasons = choose_node(view, nodes)
            pods.append(
                PodPlan(
                    pod_name(target.cluster.name, group, i),
                    group,
                    i,
                    chosen.name if chosen else None,
                    reasons,
                    dra=chosen.dra_allocations[-1] if chosen else None,
                )
            )
    batch = batch_scheduler(target.cluster.labels, expectations.batch_scheduler, expectations.batch_queue)
    if not _hold_gang(pods, batch, target.cluster.spec, nodes, admission):
        pods.extend(_autoscaled_pods(target.cluster.name, groups, nodes, MAX_PODS - len(pods), admission))
    by_name = {n.name: n for n in nodes}
    ray_nodes = [
        ray_node_for(p, by_name[p.node], expectations)
        for p in pods
        if p.node is not None and p.group.start.error is None
    ]
    deployments = _place(demands_from_serve(target.serve.body), ray_nodes)
    return Plan(target, expectations, nodes, groups, pods, ray_nodes, deployments, batch)


def _hold_gang(
    pods: list[PodPlan], batch: BatchScheduler | None, spec: Any, nodes: list[NodeModel], admission: bool
) -> bool:
    """What the batch scheduler holds back: every pod without the queue KAI needs; the whole gang when one
    member fits no node (a gang scheduler binds none of it unless all fit).

    Returns True when pods are held (the autoscaler then adds nothing: its pods would be held too).
    """
    if batch is None:
        return False
    if batch.queue_required and not batch.queue:
        for p in pods:
            _release(
                p, nodes, admission, f"held by {batch.name}: no {batch.queue_label} label, so the pod has no queue"
            )
        return True
    sizes = gang_sizes(spec, batch)
    if not sizes:
        return False
    members: list[PodPlan] = []
    for p in pods:
        want = sizes.get(None if p.group.is_head else p.group.name, 0)
        taken = sum(1 for m in members if m.group is p.group)
        if want < 0 or taken < want:
            members.append(p)
    short = [p for p in members if p.node is None]
    if not short:
        return False
    note = (
        f"held by {batch.name}'s gang ({batch.source}): {len(members) - len(short)} of the gang's {len(members)} pods "
        f"fit, so it binds none; does not fit: {', '.join(p.name for p in short)}"
    )
    for p in members:
        _release(p, nodes, admission, note)
    return True


def _release(pod: PodPlan, nodes: list[NodeModel], admission: bool, note: str) -> None:
    """Unbind a planned pod: its node gets back what it took."""
    pod.gang_held = note
    if pod.node is None:
        return
    node = next(n for n in nodes if n.name == pod.node)
    for res, amount in admitted_view(pod.group, admission).requests.items():
        node.used[res] = node.used.get(res, Decimal(0)) - amount
    node.used["pods"] = node.used.get("pods", Decimal(0)) - 1
    node.dra_taken.difference_update(d.key for d in (pod.dra.devices if pod.dra else []))
    pod.node, pod.dra = None, None


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
            out.append(
                PodPlan(
                    pod_name(cluster, group, i),
                    group,
                    i,
                    chosen.name if chosen else None,
                    reasons,
                    True,
                    chosen.dra_allocations[-1] if chosen else None,
                )
            )
            if chosen is None:
                break
    return out


def ray_node_for(pod: PodPlan, node: NodeModel, expectations: Expectations) -> RayNodePlan:
    """The resources and labels Ray gives a node started from this pod's command (gpuconf.model.raynode)."""
    group = pod.group
    claims = group.dra.container_claims if group.dra else None
    ray = ray_node_resources(
        RayPod(
            group.label,
            group.start,
            group.container_limits,
            container_env(group, expectations)[0],
            kai_fraction(group.template),
            [d for d in (pod.dra.for_container(claims) if pod.dra else []) if d.is_gpu],
            pod.dra.notes if pod.dra else (),
        ),
        node,
        expectations,
    )
    return RayNodePlan(
        pod,
        node.name,
        is_gpu_node(expectations, node),
        ray.resources,
        {**ray.labels, POD_LABEL: pod.name, K8S_NODE_LABEL: node.name},
        ray.autodetected,
        model_unknown=ray.model_unknown,
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
                more_bundles=demand.more_bundles,
                strategy=demand.strategy,
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
