"""The cluster backend's API-server paths, end to end on the kwok control plane.

kwok plays the kubelet's server (PortForward, Exec and Logs objects per pod) and local Ray
nodes stand in for the containers, so the cluster backend's own code runs unchanged: the
port-forward to the head, the code upload and node-probe job through it, the exec'd device
check, pod logs in the diagnostics, a Serve deploy and replica probes through the forward.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpuconf.backends.cluster.backend import attach
from gpuconf.backends.kwok.backend import apply_target, refresh_pod_logs, serve_pods_from_host, specs_from_deployment
from gpuconf.backends.kwok.kubelet import forward_ports
from gpuconf.backends.localray.launcher import start_cluster
from gpuconf.host.ports import free_ports
from gpuconf.kube.client import KubeClient
from gpuconf.kube.deploy import deploy_raycluster
from gpuconf.kube.names import RUN_LABEL, new_run_id
from gpuconf.live.contract import LiveCluster
from gpuconf.live.devices import DeviceCheck
from gpuconf.live.serve import deploy
from gpuconf.model.plan import Plan
from gpuconf.testing.stages import terminal_signals
from gpuconf.waits import wait_until

pytestmark = [pytest.mark.local_control_plane, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def attached(
    kube: KubeClient, plan: Plan, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveCluster, dict, Path]]:
    """The shipped RayCluster on kwok, its pods run as local Ray nodes, attached to by the cluster backend."""
    reports = tmp_path_factory.mktemp("cluster-reports")
    dep = apply_target(kube, plan, new_run_id(), suffix="cluster")
    cluster = None
    live = None
    try:
        cluster = start_cluster(specs_from_deployment(dep, plan))
        assert serve_pods_from_host(kube, dep, cluster) == [], "kwok serves no port-forward/exec/logs"
        # All local proxies share this host: one proxy (the head's) on a free port, forwarded as the pod's.
        (serve_port,) = free_ports(1)
        body = copy.deepcopy(plan.target.serve.body)
        body["proxy_location"] = "HeadOnly"
        body["http_options"] = {"host": "127.0.0.1", "port": serve_port}
        head = next(p for p in dep.pods if p.is_head)
        forward_ports(
            kube, dep.namespace, head.name, {8265: int(cluster.dashboard_url.rsplit(":", 1)[1]), serve_port: serve_port}
        )
        # gpuconf's own manifests: the reference MLService's code is shipped (--ship-entrypoints=auto).
        live = attach(kube, dep, plan, body, reports, [], {}, ship_entrypoints=True, backend="cluster")
        # kwok serves a log file as it stands: refresh the pods' logs whenever diagnostics are taken.
        diagnose = live.kube.diagnose
        live.kube.diagnose = lambda dest: (refresh_pod_logs(cluster), diagnose(dest))[1]
        yield live, body, reports
    finally:
        if live is not None:
            live.stop()
        else:
            dep.teardown()
        if cluster is not None:
            cluster.stop()


def test_every_ray_node_is_tied_to_its_pod_and_node(attached: tuple[LiveCluster, dict, Path]) -> None:
    """The node-probe job ran through the port-forward; each Ray node maps to a bound pod and its node."""
    live, _, _ = attached
    view = live.kube
    bound = {p.name: p for p in view.pods if p.node}
    assert sorted(r.pod for r in live.records.values()) == sorted(bound)
    for record in live.records.values():
        assert record.k8s_node == bound[record.pod].node
        assert record.is_head == bound[record.pod].is_head
        assert record.group == bound[record.pod].group
    assert live.node_probes is not None and set(live.node_probes) == set(live.records)
    assert view.endpoints["via"] == "port-forward" and view.endpoints["working_dir"].startswith("gcs://")


def test_device_check_ran_in_every_pod_through_exec(attached: tuple[LiveCluster, dict, Path]) -> None:
    """The exec'd device check answered for every bound pod with the pod's own env."""
    live, _, _ = attached
    view = live.kube
    checks = view.device_checks
    assert sorted(checks) == sorted(p.name for p in view.pods if p.node)
    for pod, check in checks.items():
        assert isinstance(check, DeviceCheck), f"{pod}: {check}"
    if not any(Path("/dev").glob("nvidia[0-9]*")):
        # Without GPUs on this host no pod can see a device file.
        assert all(not c.device_files for c in checks.values() if isinstance(c, DeviceCheck))


def test_serve_deploys_and_replicas_answer_through_the_forward(attached: tuple[LiveCluster, dict, Path]) -> None:
    """The Serve config (with the uploaded working_dir) is RUNNING and every replica names its pod."""
    live, body, _ = attached
    app = deploy(live.serve, body, "mlp-smoke", {})
    assert app.http_url == live.serve.serve_url
    runtime_env = app.config["applications"][0].get("runtime_env") or {}
    assert str(runtime_env.get("working_dir", "")).startswith("gcs://")
    # The cluster backend probes each replica from a Ray job (no driver of ours can join over a forward).
    assert live.replica_prober is not None
    views, probes = live.observe_apps(app.config)
    replicas = probes.replicas
    assert views and not probes.unanswered, probes.unanswered
    assert len(replicas) == sum(v.target_replicas for v in views)
    assert replicas and all(r.pod is not None for r in replicas), [r.evidence() for r in replicas]
    assert all((r.probe.get("env") or {}).get("GPUCONF_POD_NAME") == r.pod.pod for r in replicas)


def test_diagnostics_hold_pod_logs_and_serve_status(attached: tuple[LiveCluster, dict, Path], tmp_path: Path) -> None:
    """Diagnostics: events, pods, nodes, each pod's log (through the API's log endpoint) and Serve's status."""
    live, _, _ = attached
    dest = live.kube.diagnose(tmp_path / "diag")
    for name in ("events.txt", "rayclusters.yaml", "pods.yaml", "nodes.yaml", "serve-status.json", "ray-status.txt"):
        assert (dest / name).is_file(), name
    logs = {p.name: (dest / "logs" / f"{p.name}.log").read_text() for p in live.kube.pods if p.node}
    assert logs and all("could not read" not in text for text in logs.values()), logs
    assert any("Ray runtime started" in text or "ray start" in text.lower() for text in logs.values())
    assert "nvidia.com/gpu" in (dest / "nodes.yaml").read_text()


_WAIT_FOREVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from gpuconf.kube.client import KubeClient
    from gpuconf.kube.deploy import deploy_raycluster
    from gpuconf.static.check import run_check
    plan = next(p for p in run_check([Path(sys.argv[2])]).plans if p.target.name.startswith("RayCluster/"))
    kube = KubeClient(sys.argv[1])
    # 99 pods never exist: the wait only ends by a signal
    deploy_raycluster(kube, sys.argv[3], plan.target.cluster.name, plan.target.cluster.spec, 99)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_during_the_wait_leaves_no_namespace(kube: KubeClient, sig: signal.Signals) -> None:
    """Ctrl-C (or a CI cancel's SIGTERM) while waiting for the RayCluster: the namespace is deleted."""
    run_id = new_run_id() + "sig"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WAIT_FOREVER, str(kube.kubeconfig), str(ROOT / "manifests"), run_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=terminal_signals,  # Ctrl-C as a terminal sends it, even when this run's SIGINT is ignored
    )
    try:

        def namespaces() -> list[str]:
            return [n.metadata.name for n in kube.core.list_namespace(label_selector=f"{RUN_LABEL}={run_id}").items]

        def pods_exist() -> list[str] | None:
            if proc.poll() is not None:
                raise AssertionError(f"the run exited {proc.returncode} before the signal: {proc.stdout.read()!r}")
            names = namespaces()
            return names if names and kube.core.list_namespaced_pod(names[0]).items else None

        created = wait_until(
            pods_exist, f"the run {run_id} to create its namespace and pods", tier="kube", fatal=(AssertionError,)
        )
        assert proc.poll() is None, "the wait ended on its own"
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode != 0, out

        def gone() -> bool:
            return all(_terminating_or_gone(kube, name) for name in created)

        wait_until(gone, f"namespace {created} to be deleted after the signal", tier="kube")
    finally:
        if proc.poll() is None:
            proc.kill()
        for name in [n.metadata.name for n in kube.core.list_namespace(label_selector=f"{RUN_LABEL}={run_id}").items]:
            kube.delete_namespace(name)


def _terminating_or_gone(kube: KubeClient, name: str) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        ns = kube.core.read_namespace(name)
    except ApiException as exc:
        return exc.status == 404
    return ns.metadata.deletion_timestamp is not None


def test_keep_on_failure_keeps_the_namespace(kube: KubeClient, plan: Plan) -> None:
    """With --keep-on-failure the teardown leaves the namespace and says how to delete it."""
    dep = deploy_raycluster(
        kube,
        new_run_id(),
        plan.target.cluster.name,
        plan.target.cluster.spec,
        sum(g.replicas for g in plan.groups),
        suffix="keep",
    )
    try:
        command = dep.keep()
        dep.teardown()
        assert kube.namespace_exists(dep.namespace) and not _terminating_or_gone(kube, dep.namespace)
        assert command == f"kubectl delete namespace {dep.namespace}"
    finally:
        kube.delete_namespace(dep.namespace)
