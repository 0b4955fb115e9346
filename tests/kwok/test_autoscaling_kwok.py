"""Scale from zero and back on kwok: Ray's own KubeRay autoscaler, the real operator, the real scheduler.

The fixture's GPU group starts empty (minReplicas 0, enableInTreeAutoscaling). Deploying MLService
makes Ray report a GPU demand; the autoscaler (run as KubeRay's sidecar would, with the cluster's
ServiceAccount token) patches the RayCluster; the operator creates the pod, the scheduler binds it,
and refresh() stands it up as a local Ray node with the pod's IP. That pod must be the model's
autoscaled pod. With the app deleted, the node idles past idleTimeoutSeconds, the autoscaler asks
for it to go (workersToDelete), the operator deletes the pod and refresh() stops its Ray node.
Run: ``pytest tests/kwok --backend kwok`` with the control plane up.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpuconf.backends import registry
from gpuconf.backends.kwok.autoscaler import Autoscaler
from gpuconf.backends.kwok.fidelity import compare_autoscaled
from gpuconf.backends.kwok.podmount import SA_DIR
from gpuconf.backends.localray.launcher import LocalRayCluster
from gpuconf.backends.localray.procs import session_pids
from gpuconf.kube.client import KubeClient
from gpuconf.live.contract import LiveCluster
from gpuconf.model.plan import Plan
from gpuconf.static.check import run_check
from gpuconf.waits import wait_until
from tests.runsettings import run_settings

pytestmark = [pytest.mark.local_control_plane, pytest.mark.autoscaling, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "autoscaling"
GROUP = "gpu-workers"


@pytest.fixture(params=["v1", "v2"])
def plan(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """The scale-from-zero fixture's plan, on the shipped node pool and expectations, per autoscaler version.

    KubeRay 1.5.0 runs autoscaler v1 unless autoscalerOptions.version is v2 (it then sets
    RAY_enable_autoscaler_v2 on the head); v1 matches Ray nodes to pods by IP, v2 by
    RAY_CLOUD_INSTANCE_ID (the pod name).
    """
    folder = tmp_path_factory.mktemp(f"autoscaling-{request.param}")
    shutil.copytree(FIXTURE, folder, dirs_exist_ok=True)
    if request.param == "v2":
        path = folder / "raycluster.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["spec"]["autoscalerOptions"]["version"] = "v2"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    expect = ROOT / "manifests" / "expectations.yaml"
    return run_check([folder], nodes=[ROOT / "manifests" / "nodes"], expect=expect).plans[0]


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _gpu_pods(kube: KubeClient, namespace: str, cluster: str) -> list[dict[str, Any]]:
    items = kube.core.list_namespaced_pod(
        namespace, label_selector=f"ray.io/cluster={cluster},ray.io/group={GROUP}", _request_timeout=kube.timeout
    ).items
    return [kube.to_dict(p) for p in items]


def _autoscaler_alive(scaler: Autoscaler) -> str | None:
    code = scaler.exit_code()
    return None if code is None else f"the autoscaler exited with {code}:\n{scaler.log_tail()}"


def _scale_up_broken(scaler: Autoscaler, live: LiveCluster) -> str | None:
    """Why waiting for the scale-up is pointless: the autoscaler exited, or the new pod's `ray start` failed."""
    failed = [f for f in live.failed if f["group"] == GROUP]
    if failed:
        return f"the Ray node of {failed[0]['pod']} exited ({failed[0]['exit_code']}):\n{failed[0]['log_tail']}"
    return _autoscaler_alive(scaler)


def _replica_nodes(dashboard_url: str) -> dict[str, str]:
    """MLService's replicas: {replica id: Ray node id} of those RUNNING."""
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    details = ServeSubmissionClient(dashboard_url).get_serve_details()
    dep = ((details.get("applications") or {}).get("ml_service") or {}).get("deployments", {}).get("MLService") or {}
    return {r["replica_id"]: r["node_id"] for r in dep.get("replicas") or [] if r.get("state") == "RUNNING"}


def test_gpu_group_scales_from_zero_to_the_models_pod_and_back(kube: KubeClient, plan: Plan, tmp_path: Path) -> None:
    import ray
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    settings = run_settings("kwok", FIXTURE, tmp_path)
    host_token = (SA_DIR / "token").read_text() if (SA_DIR / "token").exists() else None
    live: LiveCluster = registry.get("kwok").start(plan, settings)
    try:
        assert live.kube is not None
        namespace, name = live.kube.namespace, live.kube.raycluster
        scaler: Autoscaler = live.autoscaler
        local: LocalRayCluster = live.serve  # type: ignore[assignment]
        assert _gpu_pods(kube, namespace, name) == [], "minReplicas 0: the operator makes no GPU pod by itself"
        assert [r.group for r in live.records.values()] == ["headgroup"]
        # The head's Ray node has the head pod's (loopback) IP: the autoscaler matches nodes by IP.
        head_pod = live.kube.pods[0]
        assert head_pod.ip and head_pod.ip.startswith("127."), head_pod.ip
        assert {n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]} == {head_pod.ip}

        client = ServeSubmissionClient(live.dashboard_url)
        config, _url = local.serve_config(plan.target.serve.body, None, client)
        t0 = time.monotonic()
        client.deploy_applications(config)
        version = (plan.target.cluster.spec.get("autoscalerOptions") or {}).get("version", "v1")
        print(f"\nautoscaler {version}: deployed MLService at {time.strftime('%H:%M:%S')} ({_load()})")

        def grown() -> Any:
            live.refresh()
            return next((r for r in live.records.values() if r.group == GROUP), None)

        record = wait_until(
            grown,
            f"the autoscaler to add a {GROUP} pod to {namespace}/{name} and its Ray node to join",
            tier="serve_app",
            interval=1.0,
            fail_fast=lambda: _scale_up_broken(scaler, live),
        )
        joined_s = time.monotonic() - t0
        pods = _gpu_pods(kube, namespace, name)
        assert [p["metadata"]["name"] for p in pods] == [record.pod]
        report = compare_autoscaled(plan, pods, namespace)
        assert not report.mismatches, "the operator's autoscaled pod is not the model's:\n" + "\n".join(
            f"  - {m}" for m in report.mismatches
        )
        pod_ip = pods[0]["status"]["podIP"]
        ray_node = next(n for n in ray.nodes() if n["NodeID"] == record.node_id)
        evidence = {
            "pod": record.pod,
            "k8s_node": record.k8s_node,
            "pod_ip": pod_ip,
            "ray_node_id": record.node_id,
            "ray_node_ip": ray_node["NodeManagerAddress"],
            "ray_labels": record.ray_labels,
            "resources": record.ray_resources,
        }
        assert (record.k8s_node, ray_node["NodeManagerAddress"]) == ("gpu-node-1", pod_ip), evidence
        assert record.ray_labels.get("ray.io/node-group") == GROUP, evidence
        replicas = wait_until(
            lambda: _replica_nodes(live.dashboard_url),
            "MLService's replica to be RUNNING",
            tier="serve_app",
            interval=1.0,
        )
        running_s = time.monotonic() - t0
        assert set(replicas.values()) == {record.node_id}, (replicas, evidence)
        spec = (kube.read_raycluster(namespace, name) or {})["spec"]
        group = next(g for g in spec["workerGroupSpecs"] if g["groupName"] == GROUP)
        assert group["replicas"] == 1, group  # patched by the autoscaler, as whom the token says
        node = next(n for n in local.nodes if n.spec.pod == record.pod)
        print(
            f"scale-up: Ray node of {record.pod} joined {joined_s:.1f}s after deploy, replica RUNNING at {running_s:.1f}s ({_load()}); {evidence}"
        )

        client.delete_applications()
        t1 = time.monotonic()

        def shrunk() -> bool:
            live.refresh()
            return not _gpu_pods(kube, namespace, name) and all(r.group != GROUP for r in live.records.values())

        wait_until(
            shrunk,
            f"the autoscaler to remove the idle {GROUP} pod {record.pod} (idleTimeoutSeconds 15) and its Ray node to stop",
            tier="kube",
            interval=1.0,
            fail_fast=lambda: _autoscaler_alive(scaler),
        )
        down_s = time.monotonic() - t1
        assert node.proc.poll() is not None and session_pids(node.proc.pid) == [], "the Ray node's processes remain"
        spec = (kube.read_raycluster(namespace, name) or {})["spec"]
        group = next(g for g in spec["workerGroupSpecs"] if g["groupName"] == GROUP)
        assert group["replicas"] == 0, group
        print(f"scale-down: {record.pod} and its Ray node gone {down_s:.1f}s after the app was deleted ({_load()})")
        assert "kuberay-autoscaler" in " ".join(scaler.argv) and scaler.exit_code() is None
    finally:
        live.stop()
    # The token went to the autoscaler's private mount namespace only.
    assert ((SA_DIR / "token").read_text() if (SA_DIR / "token").exists() else None) == host_token
    assert (tmp_path / f"kwok-{namespace}" / "autoscaler.log").exists()


@pytest.fixture
def untolerated_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """The fixture with the GPU group's toleration removed: its autoscaled pods cannot go to the tainted GPU node."""
    folder = tmp_path_factory.mktemp("autoscaling-untolerated")
    shutil.copytree(FIXTURE, folder, dirs_exist_ok=True)
    path = folder / "raycluster.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["tolerations"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    expect = ROOT / "manifests" / "expectations.yaml"
    return run_check([folder], nodes=[ROOT / "manifests" / "nodes"], expect=expect).plans[0]


def test_autoscaled_pod_without_the_toleration_stays_pending_as_the_model_says(
    kube: KubeClient, untolerated_plan: Plan, tmp_path: Path
) -> None:
    """The autoscaler asks, the operator creates the pod, the scheduler refuses it for the taint; no Ray node."""
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    plan = untolerated_plan
    model = next(p for p in plan.pods if p.autoscaled)
    assert model.node is None and "taint" in model.pending_message, model.pending_message
    settings = run_settings("kwok", FIXTURE, tmp_path)
    live: LiveCluster = registry.get("kwok").start(plan, settings)
    try:
        assert live.kube is not None
        namespace, name = live.kube.namespace, live.kube.raycluster
        scaler: Autoscaler = live.autoscaler
        local: LocalRayCluster = live.serve  # type: ignore[assignment]
        client = ServeSubmissionClient(live.dashboard_url)
        config, _url = local.serve_config(plan.target.serve.body, None, client)
        client.deploy_applications(config)

        def refused() -> dict[str, str] | None:
            messages = kube.failed_scheduling(namespace)
            pods = _gpu_pods(kube, namespace, name)
            return messages if pods and all(p["metadata"]["name"] in messages for p in pods) else None

        messages = wait_until(
            refused,
            f"the autoscaler to add a {GROUP} pod to {namespace}/{name} and the scheduler to refuse it",
            tier="serve_app",
            interval=1.0,
            fail_fast=lambda: _autoscaler_alive(scaler),
        )
        pods = _gpu_pods(kube, namespace, name)
        report = compare_autoscaled(plan, pods, namespace, messages)
        assert not report.mismatches, "\n".join(f"  - {m}" for m in report.mismatches)
        assert all(p["spec"].get("nodeName") is None for p in pods)
        live.refresh()
        assert [r.group for r in live.records.values()] == ["headgroup"]  # nothing to stand up
        spec = (kube.read_raycluster(namespace, name) or {})["spec"]
        assert next(g for g in spec["workerGroupSpecs"] if g["groupName"] == GROUP)["replicas"] == 1
        print(f"\n{pods[0]['metadata']['name']} Pending: {messages[pods[0]['metadata']['name']]}")
    finally:
        live.stop()
