"""Checks only real pods can answer: the device plugin's GPUs in the replica, no GPU device elsewhere."""

from __future__ import annotations

import pytest

from gpuconf.live.contract import LiveCluster, Observed
from gpuconf.live.settings import Settings
from gpuconf.live.verdicts import pod_device_problems, replica_gpu_problems
from gpuconf.model.plan import Plan
from gpuconf.testing.evidence import Evidence

pytestmark = pytest.mark.real_pods


def test_pods_without_a_gpu_limit_see_no_gpu_device(live_cluster: LiveCluster, plan: Plan, evidence: Evidence) -> None:
    """The head and CPU pods show no /dev/nvidia<N> and no GPU in nvidia-smi (catches KubeRay issue 2098's
    NVIDIA_VISIBLE_DEVICES=all leak from the image on a GPU node)."""
    view = live_cluster.kube
    res = plan.expectations.gpu_resource
    rows, problems = {}, []
    for pod in view.pods:
        if pod.node is None or pod.gpu_limit(res) > 0:
            continue
        check = view.device_checks.get(pod.name)
        why = pod_device_problems(check)
        rows[pod.name] = {
            "k8s_node": pod.node,
            "group": pod.group,
            "check": check if isinstance(check, str) else check.as_evidence() if check else None,
        }
        if why:
            problems.append(f"{pod.name} on {pod.node}: {'; '.join(why)}")
    evidence.add("pods", rows)
    assert rows, "no head or CPU pod is bound to a node"
    assert not problems, " | ".join(problems)


@pytest.mark.cuda
def test_replica_gpu_is_one_the_device_plugin_allocated(
    observed: Observed, plan: Plan, live_cluster: LiveCluster, gpuconf_settings: Settings, evidence: Evidence
) -> None:
    """Every GPU replica uses only the GPU(s) allocated to its own pod (UUIDs from NVIDIA_VISIBLE_DEVICES or
    nvidia-smi in the pod, compared with torch's in the replica)."""
    view = live_cluster.kube
    replicas = [o for d in plan.expectations.gpu_deployments for o in observed.of(d.app, d.deployment)]
    rows, problems = {}, []
    for obs in replicas:
        pod = obs.pod.pod if obs.pod else None
        check = view.device_checks.get(pod) if pod else None
        why = replica_gpu_problems(obs.probe, check)
        rows[obs.replica_id] = {
            "pod": pod,
            "k8s_node": obs.pod.k8s_node if obs.pod else None,
            "replica_uuids": [d.get("uuid") for d in obs.probe.get("devices") or []],
            "pod_devices": check.as_evidence() if check is not None and not isinstance(check, str) else check,
        }
        if why:
            problems.append(f"{obs.replica_id} in {pod}: {'; '.join(why)}")
    evidence.add("replicas", rows)
    assert not problems, " | ".join(problems)
