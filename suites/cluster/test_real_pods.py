"""Checks only real pods can answer: the device plugin's GPUs in the replica, no GPU device elsewhere."""

from __future__ import annotations

import pytest

from gpuconf.live.allocation import replica_allocation_problems
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


def test_replica_gpu_is_the_one_its_pod_was_allocated(
    observed: Observed, plan: Plan, live_cluster: LiveCluster, gpuconf_settings: Settings, evidence: Evidence
) -> None:
    """On fake-GPU nodes: every GPU replica's own view (NVIDIA_VISIBLE_DEVICES, the /dev/nvidia<N> it can
    open, the GPU ids Ray gave it) is exactly what the device plugin allocated to its pod, as the node's
    kubelet records it (pod-resources API) with the plugin's answer for each device."""
    from gpuconf.provision.realpods.allocations import is_tier_kubeconfig, node_allocations

    view = live_cluster.kube
    fake = set(view.fake_gpu_nodes)
    replicas = [
        o
        for d in plan.expectations.gpu_deployments
        for o in observed.of(d.app, d.deployment)
        if o.pod is not None and o.pod.k8s_node in fake
    ]
    if not replicas:
        pytest.skip("no GPU replica runs on a fake-GPU node (on real GPUs the CUDA variant compares UUIDs)")
    if not is_tier_kubeconfig(gpuconf_settings.kubeconfig):
        pytest.skip(
            f"the kubelets' pod-resources API of {sorted(fake)} is reachable from here only on the realpods tier"
        )
    res = plan.expectations.gpu_resource
    records = {n: node_allocations(n) for n in sorted({o.pod.k8s_node for o in replicas if o.pod})}
    rows, problems = {}, []
    for obs in replicas:
        assert obs.pod is not None
        record = records[obs.pod.k8s_node]
        allocated = record.devices_of(view.namespace, obs.pod.pod, res)
        why, facts = replica_allocation_problems(obs.probe, allocated, record.device_paths)
        rows[obs.replica_id] = {
            "pod": obs.pod.pod,
            "k8s_node": obs.pod.k8s_node,
            "ray_node_id": obs.probe.get("node_id"),
            "ray_node_labels": obs.probe.get("node_labels"),
            **facts,
            "kubelet_record": record.evidence(view.namespace, obs.pod.pod),
        }
        if why:
            problems.append(f"{obs.replica_id} in {obs.pod.pod} on {obs.pod.k8s_node}: {'; '.join(why)}")
    evidence.add("replicas", rows)
    assert not problems, " | ".join(problems)
