"""The cluster backend as the suites see it: a real cluster (or kind), reached with the official client.

preflight → (optional) GPU-node labels → namespace → RayCluster (plus the downward-API env)
→ the head's dashboard and Serve over port-forwards → `entrypoints/` uploaded as a working_dir
→ a zero-GPU probe on every Ray node (a Ray job) → a device check exec'd in every pod.
Everything the run changed is undone by `stop()`; diagnostics are written before the namespace goes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuconf.backends.cluster.endpoints import open_endpoints
from gpuconf.backends.cluster.jobs import replica_job_prober
from gpuconf.backends.cluster.nodeprobe import records_from, run_node_probe, tie_to_pods
from gpuconf.backends.cluster.podenv import DOWNWARD_ENV, with_downward_env
from gpuconf.backends.cluster.podexec import check_devices
from gpuconf.backends.cluster.refresh import cluster_refresher
from gpuconf.backends.cluster.scaling import KubeRayClusterApi, ReplicaRestore, ScalingBudget, withheld_capabilities
from gpuconf.backends.cluster.target import ClusterTarget, alive_ray_nodes, http_port, serve_code_note
from gpuconf.backends.cluster.upload import upload_entrypoints
from gpuconf.backends.cluster.view import ClusterView
from gpuconf.errors import EXIT_UNREACHABLE, EnvironmentFailure
from gpuconf.kube.client import KubeClient
from gpuconf.kube.deploy import KubeDeployment, deploy_raycluster
from gpuconf.kube.diagnostics import collect_diagnostics
from gpuconf.kube.names import new_run_id
from gpuconf.kube.nodes import FAKE_GPU_LABEL
from gpuconf.kube.objects import PodInfo
from gpuconf.kube.preflight import PreflightResult, cluster_checks, raise_on_failure, reach
from gpuconf.live.artifacts import artifacts_dir
from gpuconf.live.contract import Capability, LiveCluster, Stopwatch
from gpuconf.live.devices import DeviceCheck
from gpuconf.live.settings import Settings
from gpuconf.model.plan import Plan
from gpuconf.waits import timeout, wait_until


def connect_cluster(kubeconfig: str | None) -> tuple[KubeClient, PreflightResult]:
    """The run's one client of the user's cluster and preflight's "reachable" check it passed,
    or an EnvironmentFailure (exit 10) within seconds."""
    reached = reach(kubeconfig)
    if reached.api is None or not reached.result.ok:
        where, hint = kubeconfig or "the in-cluster service account", ""
        if kubeconfig:
            from gpuconf.kube.kubeconfig import read_kubeconfig
            from gpuconf.provision.kwok.netns import client_hint

            server = read_kubeconfig(kubeconfig).server
            where, hint = f"{server} (kubeconfig {kubeconfig})", client_hint(server)
        raise EnvironmentFailure(
            f"no API server answers at {where} within 5 s; "
            "check the kubeconfig, its current context and that the cluster is up" + hint,
            exit_code=EXIT_UNREACHABLE,
        )
    return KubeClient(kubeconfig, api=reached.api), reached.result


def _label_gpu_nodes(kube: KubeClient, plan: Plan, undo: list[Callable[[], None]]) -> list[str]:
    """--label-gpu-nodes: put the GPU node selector on every node with allocatable GPUs (reverted at stop)."""
    from gpuconf.kube.nodes import label_nodes, nodes_with_gpus

    exp = plan.expectations
    names = nodes_with_gpus(kube, exp.is_gpu_resource)
    if names:
        # reverted at stop(), and at exit too (Ctrl-C, SIGTERM)
        change = label_nodes(kube, names, dict(exp.gpu_node_selector), revert_at_exit=True)
        undo.append(change.revert)
    return names


def _device_checks(kube: KubeClient, dep: KubeDeployment) -> dict[str, DeviceCheck | str]:
    """The device check of every bound pod (an exec that fails is recorded as its error)."""
    out: dict[str, DeviceCheck | str] = {}
    for pod in dep.pods:
        if pod.node is None:
            continue
        try:
            out[pod.name] = check_devices(kube, pod.namespace, pod.name)
        except Exception as exc:  # RBAC, no shell in the image: the verdict names it
            out[pod.name] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return out


def _wait_ray_nodes(dashboard_url: str, expected: int) -> int:
    """Until `expected` Ray nodes are alive (Ready pods can run ahead of their raylet's registration)."""

    def alive() -> int | None:
        n = len(alive_ray_nodes(dashboard_url))
        return n if n >= expected else None

    return wait_until(
        alive, f"{expected} Ray nodes to be alive (dashboard {dashboard_url})", tier="ray_node", interval=2.0
    )


def _use_head_token(kube: KubeClient, head: PodInfo) -> bool:
    """Send the head's Ray auth token with every dashboard request when the head uses token auth."""
    from gpuconf.backends.cluster.podexec import exec_in_pod
    from gpuconf.live.auth import set_driver_auth

    token = head.env.get("RAY_AUTH_TOKEN")
    if not token and head.env.get("RAY_AUTH_MODE") == "token":
        token = exec_in_pod(
            kube, head.namespace, head.name, ["sh", "-c", 'cat "${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}"']
        ).stdout.strip()
    if token:
        set_driver_auth({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
    return bool(token)


def start_cluster_backend(plan: Plan, settings: Settings) -> LiveCluster:
    """Run the plan's cluster on the user's cluster; `stop()` undoes everything this run changed."""
    kube, reachable = connect_cluster(settings.kubeconfig)
    watch = Stopwatch()
    undo: list[Callable[[], None]] = []
    dep: KubeDeployment | None = None
    try:
        labelled = _label_gpu_nodes(kube, plan, undo) if settings.label_gpu_nodes else []
        raise_on_failure([reachable, *cluster_checks(kube.api, plan.expectations)])
        stages = {"preflight": watch.lap()}
        cluster = plan.target.cluster
        dep = deploy_raycluster(
            kube,
            new_run_id(),
            cluster.name,
            with_downward_env(cluster.spec),
            sum(g.replicas for g in plan.groups),
            diagnostics_dir=artifacts_dir(Path(settings.report_dir), settings.backend, "setup"),
            tier="pods",
        )
        stages["pods_ready"] = watch.lap()
        scaling = (
            Scaling(
                ScalingBudget(settings.scaling_budget_s),
                ReplicaRestore.record(KubeRayClusterApi(kube), dep.namespace, dep.name),
            )
            if settings.allow_scaling
            else None
        )
        return attach(
            kube,
            dep,
            plan,
            plan.target.serve.body,
            Path(settings.report_dir),
            undo,
            stages,
            labelled,
            settings.model,
            scaling,
            settings.ship_entrypoints,
            backend=settings.backend,
        )
    except BaseException:
        _teardown(dep, Path(settings.report_dir), settings.backend, undo)
        raise


def _teardown(dep: KubeDeployment | None, report_dir: Path, backend: str, undo: list[Callable[[], None]]) -> None:
    """Diagnostics to `<report_dir>/<backend>-<namespace>/`, the namespace deleted, then `undo` in reverse."""
    try:
        if dep is not None:
            dep.teardown(artifacts_dir(report_dir, backend, dep.namespace))
    finally:
        for step in reversed(undo):
            step()


def attach(
    kube: KubeClient,
    dep: KubeDeployment,
    plan: Plan,
    serve_body: Any,
    report_dir: Path,
    undo: list[Callable[[], None]],
    stages: dict[str, float],
    labelled: list[str] | None = None,
    model: str | None = None,
    scaling: Scaling | None = None,
    ship_entrypoints: bool = False,
    *,
    backend: str,
) -> LiveCluster:
    """Everything after the pods are up, through the API server only: reach the head, ship the code,
    probe every Ray node, check every pod's devices. `undo` steps run (in reverse) at `stop()`;
    on an error here the caller tears down. `backend` is the registry's name of the run's backend
    (Settings.backend): the LiveCluster carries it and it names the artifacts folder."""
    watch = Stopwatch()
    head = dep.bound_head()
    endpoints = open_endpoints(kube, head, http_port(serve_body))
    undo.append(endpoints.close)
    _use_head_token(kube, head)
    bound = [p for p in dep.pods if p.node]
    _wait_ray_nodes(endpoints.dashboard_url, len(bound))
    # The user's Serve config runs as given; gpuconf's reference code only where it is what should run.
    uri = upload_entrypoints(endpoints.dashboard_url) if ship_entrypoints else None
    stages["code_uploaded"] = watch.lap()
    probed = tie_to_pods(run_node_probe(endpoints.dashboard_url), dep.pods)
    records = records_from(probed, dep.nodes, plan.expectations.is_gpu_node, plan.expectations.is_gpu_resource)
    checks = _device_checks(kube, dep)
    stages["nodes_probed"] = watch.lap()

    gpu_pods = {p.name for p in dep.pods if p.gpu_limit(plan.expectations.is_gpu_resource) > 0}
    physical = [
        {"index": i, **gpu, "pod": pod}
        for pod, c in checks.items()
        if isinstance(c, DeviceCheck) and pod in gpu_pods
        for i, gpu in enumerate(c.smi_gpus)
    ]
    target = ClusterTarget(
        endpoints.dashboard_url,
        endpoints.serve_url,
        uri,
        [p.name for p in bound if not p.ready],
        upload=lambda: upload_entrypoints(endpoints.dashboard_url),
    )
    fake = [n.name for n in dep.nodes if n.labels.get(FAKE_GPU_LABEL) == "true"]
    view = ClusterView(
        dep.namespace,
        dep.name,
        dep.pods,
        dep.nodes,
        diagnose=lambda dest: diagnose_cluster(kube, dep, head, endpoints.dashboard_url, dest),
        device_checks=checks,
        fake_gpu_nodes=fake,
        labelled_nodes=list(labelled or []),
        endpoints={**endpoints.as_evidence(), "working_dir": uri, "downward_env_added": sorted(DOWNWARD_ENV)},
        scaling=scaling.evidence() if scaling else {"allowed": False},
    )

    def stop() -> int:
        _teardown(dep, report_dir, backend, undo)
        return 0

    live = LiveCluster(
        backend, records, dep.pending(), [], stages, endpoints.dashboard_url, target, stop, physical, view
    )
    live.node_probes = {p.node_id: p.probe for p in probed}
    live.replica_prober = replica_job_prober(endpoints.dashboard_url, timeout("probe"))
    live.environment_notes.append(serve_code_note(serve_body, uri))
    live.refresher = cluster_refresher(
        dep,
        plan,
        target,
        lambda: {n.node_id for n in alive_ray_nodes(endpoints.dashboard_url)},
        lambda: run_node_probe(endpoints.dashboard_url),
        scaling.budget if scaling else None,
    )

    def keep() -> str:
        # The namespace stays: put back the worker groups' replicas the run found, so the GPU pods
        # (and the nodes a node autoscaler added for them) do not outlive the run. Otherwise the
        # namespace is deleted at stop, on every exit path (NamespaceGuard), and there is nothing to put back.
        if scaling is not None:
            ops = scaling.restore.restore()
            view.scaling = scaling.evidence()
            print(f"--allow-scaling: worker groups of {dep.namespace}/{dep.name} put back: {ops or 'unchanged'}")
        return dep.keep()

    live.keep = keep
    return live


@dataclass
class Scaling:
    """--allow-scaling: the budget the scaling checks' refreshes charge, and the replicas to put back."""

    budget: ScalingBudget
    restore: ReplicaRestore

    def evidence(self) -> dict[str, Any]:
        """The budget and the worker groups as found (and as restored)."""
        return {"allowed": True, "budget_s": self.budget.seconds, **self.restore.evidence()}


def diagnose_cluster(kube: KubeClient, dep: KubeDeployment, head: PodInfo, dashboard_url: str, dest: Path) -> Path:
    """The namespace's diagnostics plus pod logs, `ray status` from the head and Serve's status."""
    from gpuconf.backends.cluster.podexec import exec_in_pod

    def ray_status() -> str:
        res = exec_in_pod(kube, head.namespace, head.name, ["ray", "status"])
        return res.stdout + res.stderr

    def serve_status() -> str:
        import json

        from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

        return json.dumps(ServeSubmissionClient(dashboard_url).get_serve_details(), indent=2, default=str)

    extras: dict[str, Any] = {"ray-status.txt": ray_status, "serve-status.json": serve_status}
    return collect_diagnostics(kube, dep.namespace, dest, dep.name, extras=extras, pod_logs=True)


@dataclass(frozen=True)
class ClusterBackend:
    """The user's cluster (or kind): real pods, real device plugin, reached through the API server."""

    summary: str = "a RayCluster on a real cluster (kubeconfig), from outside or as an in-cluster Job"
    capabilities: frozenset[Capability] = field(
        default_factory=lambda: frozenset(
            {Capability.RAY, Capability.KUBE_API, Capability.REAL_PODS, Capability.AUTOSCALING}
        )
    )

    def withheld(self, settings: Settings) -> dict[Capability, str]:
        """Capabilities not offered to this run, with the skip reason (autoscaling: only with --allow-scaling)."""
        return withheld_capabilities(settings)

    def start(self, plan: Plan, options: Settings) -> LiveCluster:
        """See start_cluster_backend."""
        return start_cluster_backend(plan, options)


BACKEND = ClusterBackend()
