"""The kwok backend as the suites see it: plan → RayCluster on the kwok control plane → local Ray nodes.

The real API server, scheduler and KubeRay operator decide which pods exist, where they
are bound and what `ray start` command each runs; kwok only fakes the kubelet. Every pod
bound to a node is then stood up as a local Ray node from its REAL command, so a command
KubeRay breaks breaks here too. Pending pods are reported with the scheduler's message.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gpuconf.backends.kwok.autoscaler import Autoscaler, start_autoscaler
from gpuconf.backends.kwok.dra import allocated_gpus, apply_claim_templates, resource_claims
from gpuconf.backends.localray.launcher import REPO_ROOT, LocalRayCluster, start_cluster
from gpuconf.backends.localray.live import live_from_cluster, refresh_from
from gpuconf.backends.localray.specs import NodeSpec, with_physical_gpus
from gpuconf.errors import EnvironmentFailure
from gpuconf.kube.client import KubeClient
from gpuconf.kube.deploy import KubeDeployment, deploy_raycluster
from gpuconf.kube.diagnostics import collect_diagnostics
from gpuconf.kube.names import new_run_id
from gpuconf.kube.objects import NodeInfo, PodInfo
from gpuconf.kube.reach import cluster_answers
from gpuconf.kube.view import KubeView
from gpuconf.live.artifacts import artifacts_dir
from gpuconf.live.contract import Capability, LiveCluster, Stopwatch
from gpuconf.live.settings import Settings
from gpuconf.model.dra import DraDevice
from gpuconf.model.gang import kai_fraction
from gpuconf.model.kuberay import autoscaler_enabled
from gpuconf.model.plan import Plan
from gpuconf.model.raynode import RayPod, container_env, leaks_all_gpus, ray_node_resources
from gpuconf.model.raystart import parse_ray_start
from gpuconf.model.shell import bash_words

# Env KubeRay injects that points at in-cluster DNS names; a local Ray node must not follow it.
_IN_CLUSTER_ENV = {
    "RAY_ADDRESS",
    "RAY_IP",
    "FQ_RAY_IP",
    "RAY_PORT",
    "KUBERAY_GEN_RAY_START_CMD",
    "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE",
}


def kwok_kubeconfig() -> Path:
    """The kubeconfig `make kwok-up` writes."""
    from gpuconf.provision.kwok.paths import state_dir

    return state_dir() / "kubeconfig"


def connect() -> KubeClient:
    """A client of the running kwok control plane, or a clear EnvironmentFailure.

    The calling thread enters the control plane's network namespace first (only `lo`): the Ray
    nodes this run starts then listen where nothing outside this host's loopback reaches them.
    """
    from gpuconf.provision.kwok import netns

    netns.enter()
    path = kwok_kubeconfig()
    if not path.exists() or not cluster_answers(str(path)):
        raise EnvironmentFailure(
            f"the kwok control plane is not up (no API server answers for {path}); "
            "run `make kwok-up` (gpuconf kwok up --nodes manifests/nodes)"
        )
    return KubeClient(str(path))


def apply_target(
    kube: KubeClient, plan: Plan, run_id: str, suffix: str = "", diagnostics_dir: Path | None = None
) -> KubeDeployment:
    """Apply the plan's cluster (a RayService's rayClusterConfig as a RayCluster named after it) and wait.

    The ResourceClaimTemplates its pods name go first, into the same namespace.
    """
    from gpuconf.kube.names import run_labels
    from gpuconf.model.dra import named_templates

    templates = named_templates([g.dra for g in plan.groups])
    cluster = plan.target.cluster
    return deploy_raycluster(
        kube,
        run_id,
        cluster.name,
        cluster.spec,
        sum(g.replicas for g in plan.groups),
        suffix=suffix,
        diagnostics_dir=diagnostics_dir,
        prepare=lambda namespace: apply_claim_templates(kube, namespace, templates, run_labels(run_id)),
    )


def loopback_ip(pod: PodInfo) -> str | None:
    """The pod's IP when kwok handed it out on loopback (see provision.kwok POD_CIDR), else None."""
    try:
        return pod.ip if pod.ip and ipaddress.ip_address(pod.ip).is_loopback else None
    except ValueError:
        return None


def spec_for_pod(
    pod: PodInfo, node: NodeInfo, plan: Plan, pod_ip: bool = False, dra_gpus: Sequence[DraDevice] = ()
) -> NodeSpec:
    """A local Ray node standing for one real pod, from its real `ray start` command.

    `dra_gpus`: the GPUs the scheduler allocated to the claims its Ray container lists (Ray
    autodetects them in the pod unless the command sets --num-gpus). With `pod_ip`, the node takes
    the pod's IP as its Ray node IP, as in the pod: KubeRay's autoscaler (v1) tells Ray nodes and
    pods apart by that IP alone.
    """
    cmd = pod.ray_start_cmd or ""
    try:
        argv = bash_words(cmd)
    except ValueError:
        argv = cmd.split()  # the launcher's `ray start` then fails on it, as `bash -c` would in the pod
    ip = loopback_ip(pod) if pod_ip else None
    if ip and not any(w.startswith("--node-ip-address") for w in argv):
        argv = [*argv, f"--node-ip-address={ip}"]
    exp = plan.expectations
    # The same rules as the plan's (gpuconf.model.raynode), from the real pod and its real command.
    seen_env = container_env(pod.image, pod.env, exp)[0]
    ray = ray_node_resources(
        RayPod(
            pod.group,
            parse_ray_start(argv),
            pod.limits,
            seen_env,
            kai_fraction({"metadata": {"annotations": pod.annotations}}),
            dra_gpus,
        ),
        node,
        exp,
    )
    env = {k: v for k, v in pod.env.items() if k not in _IN_CLUSTER_ENV}
    return NodeSpec(
        pod=pod.name,
        k8s_node=node.name,
        group=pod.group,
        is_head=pod.is_head,
        argv=argv,
        env=env,
        gpus_held=int(pod.gpu_limit(exp.is_gpu_resource)) + len(dra_gpus),
        gpu_node=exp.is_gpu_node(node.labels, node.allocatable),
        planned_resources=ray.resources,
        sees_all_gpus=leaks_all_gpus(seen_env, pod.limits),
    )


def specs_from_deployment(dep: KubeDeployment, plan: Plan, pod_ip: bool = False) -> list[NodeSpec]:
    """A NodeSpec for every bound pod, head first; with `pod_ip`, only for pods that have their IP.

    A pod is bound before kwok gives it an IP. Started then, its node would fall back to
    127.0.0.1, which `ray start` rewrites to the host's own address (`resolve_ip_for_localhost`),
    and the autoscaler (v1 matches by IP) would never find the pod's Ray node. The next
    refresh starts it once the IP is there.
    """
    gpus = allocated_gpus(plan, dep.pods, resource_claims(dep.kube, dep.namespace)) if _claims_dra(plan) else {}
    specs = []
    for pod in dep.pods:
        node = dep.node(pod.node) if pod.node else None
        if node is not None and (not pod_ip or loopback_ip(pod)):
            specs.append(spec_for_pod(pod, node, plan, pod_ip, gpus.get(pod.name, ())))
    return with_physical_gpus(
        sorted(specs, key=lambda s: not s.is_head),
        {n.name: n.labels for n in dep.nodes},
        {n.name: int(plan.expectations.gpus(n.allocatable)) for n in dep.nodes},
    )


def _claims_dra(plan: Plan) -> bool:
    return any(g.dra is not None and g.dra.requests for g in plan.groups)


def serve_pods_from_host(kube: KubeClient, dep: KubeDeployment, cluster: LocalRayCluster) -> list[str]:
    """Make the API server's port-forward, exec and logs of each pod reach its local Ray node.

    Returns notes for the report (a control plane started before kwok had these CRDs has none).
    """
    from kubernetes.client.exceptions import ApiException

    from gpuconf.backends.kwok.kubelet import exec_locally, forward_ports, logs_from
    from gpuconf.kube.dashboard import dashboard_port

    try:
        for node in cluster.nodes:
            pod = next((p for p in dep.pods if p.name == node.spec.pod), None)
            if pod is None:
                continue
            env = {**node.spec.env, **{k: v for k, v in node.env_overrides.items() if not k.startswith("RAY_AUTH")}}
            exec_locally(kube, dep.namespace, pod.name, env, str(REPO_ROOT))
            logs_from(kube, dep.namespace, pod.name, node.log)
            if node.spec.is_head:
                local = int(cluster.dashboard_url.rsplit(":", 1)[1])
                forward_ports(kube, dep.namespace, pod.name, {dashboard_port(pod): local})
    except ApiException as exc:
        if exc.status != 404:
            raise
        return [
            "kwok serves no port-forward/exec/logs here (its CRDs are missing): restart it with "
            "`gpuconf kwok down && gpuconf kwok up`"
        ]
    return []


def refresh_pod_logs(cluster: LocalRayCluster) -> None:
    """Bring each pod's served log up to date with its local node's log (kwok serves a file as it is)."""
    from gpuconf.backends.kwok.kubelet import write_cri_log

    for node in cluster.nodes:
        write_cri_log(node.log)


def start_kwok(plan: Plan, settings: Settings) -> LiveCluster:
    """Apply the plan's cluster on the kwok control plane, then start a local Ray node per bound pod.

    `stop()` stops Ray, writes diagnostics to `<report-dir>/<backend>-<namespace>/` and deletes the namespace.
    """
    kube = connect()
    run_id = new_run_id()
    watch = Stopwatch()
    report_dir = Path(settings.report_dir)
    dep = apply_target(kube, plan, run_id, diagnostics_dir=artifacts_dir(report_dir, settings.backend, "setup"))
    diag_dir = artifacts_dir(report_dir, settings.backend, dep.namespace)
    stages = {"kube_pods_settled": watch.lap()}
    # With the in-tree autoscaler, Ray's own KubeRay autoscaler runs beside the head, as its sidecar would.
    autoscaling = autoscaler_enabled(plan.target.cluster.spec)
    scaler: Autoscaler | None = None
    try:
        head = dep.bound_head()
        cluster = start_cluster(
            specs_from_deployment(dep, plan, pod_ip=autoscaling), run_id=os.environ.get("GPUCONF_RUN_ID") or None
        )
    except BaseException:
        dep.teardown(diag_dir)
        raise
    if autoscaling:
        try:
            scaler = start_autoscaler(kube, dep.namespace, head.name, cluster)
        except BaseException:
            cluster.stop()
            dep.teardown(diag_dir)
            raise
    live = live_from_cluster(cluster, settings.backend, dep.pending())
    live.environment_notes = serve_pods_from_host(kube, dep, cluster)
    live.stages = {**stages, **{k: round(v + stages["kube_pods_settled"], 2) for k, v in live.stages.items()}}
    if scaler is not None:
        live.autoscaler = scaler  # the kwok tests read its process and log

    def diagnose(dest: Path) -> Path:
        refresh_pod_logs(cluster)
        if scaler is not None:
            scaler.copy_log(dest)
        return collect_diagnostics(kube, dep.namespace, dest, dep.name, pod_logs=True)

    live.kube = KubeView(dep.namespace, dep.name, dep.pods, dep.nodes, diagnose=diagnose)

    def refresh(current: LiveCluster) -> None:
        # KubeRay may have created pods since (a scaled worker group): each newly bound pod becomes
        # a local Ray node from its real command, served like the first ones.
        dep.refresh()
        # ... and a pod deleted since (scaled down, workersToDelete) takes its local Ray node with it.
        existing = {p.name for p in dep.pods}
        for gone in [n.spec.pod for n in cluster.nodes if not n.spec.is_head and n.spec.pod not in existing]:
            cluster.remove_node(gone)
        started = {n.spec.pod for n in cluster.nodes}
        added = cluster.add_nodes(
            [s for s in specs_from_deployment(dep, plan, pod_ip=autoscaling) if s.pod not in started]
        )
        if added:
            current.environment_notes = serve_pods_from_host(kube, dep, cluster)
        refresh_from(cluster, current)
        current.pending = dep.pending()
        current.kube = KubeView(dep.namespace, dep.name, dep.pods, dep.nodes, diagnose=diagnose)

    live.refresher = refresh

    def stop() -> int:
        try:
            if scaler is not None:  # first, so it patches nothing while the cluster goes
                scaler.stop()
                scaler.copy_log(diag_dir)
            return cluster.stop()
        finally:
            # Until its pods are gone they hold the nodes' GPUs and CPUs: the next run's pods would
            # be Pending for them, and start only the head.
            dep.teardown(diag_dir, wait=True)

    live.stop = stop
    live.keep = dep.keep
    return live


@dataclass(frozen=True)
class KwokBackend:
    """The real control plane and KubeRay operator on loopback; kwok plays the kubelet."""

    summary: str = "a RayCluster on the local kwok control plane, its bound pods as local Ray nodes"
    capabilities: frozenset[Capability] = field(
        default_factory=lambda: frozenset(
            {Capability.RAY, Capability.KUBE_API, Capability.AUTOSCALING, Capability.LOCAL_CONTROL_PLANE}
        )
    )

    def start(self, plan: Plan, options: Settings) -> LiveCluster:
        """See start_kwok."""
        return start_kwok(plan, options)


BACKEND = KwokBackend()
