"""CUDA works in the GPU replicas, and nothing that reserved no GPU can see one."""

from __future__ import annotations

import pytest

from gpuconf.live.contract import LiveCluster, Observed
from gpuconf.live.settings import Settings
from gpuconf.live.verdicts import cuda_device_count, cuda_problems, sees_gpu, unprobed_zero_gpu_pods
from gpuconf.model.plan import Plan
from gpuconf.testing.evidence import Evidence

pytestmark = pytest.mark.ray


def _gpu_replicas(observed: Observed, plan: Plan) -> list:
    return [obs for d in plan.expectations.gpu_deployments for obs in observed.of(d.app, d.deployment)]


@pytest.mark.cuda
def test_gpu_replicas_see_a_working_cuda_device(
    observed: Observed, plan: Plan, live_cluster: LiveCluster, gpuconf_settings: Settings, evidence: Evidence
) -> None:
    """Device name, capability and UUID are read in the replica, and a matmul on the GPU matches the CPU."""
    replicas = _gpu_replicas(observed, plan)
    evidence.add("replicas", [o.evidence() for o in replicas])
    problems = {o.replica_id: cuda_problems(o.probe) for o in replicas}
    first = replicas[0].probe["devices"][0]
    evidence.add("device", first.get("name"))
    evidence.add("uuid", first.get("uuid"))
    evidence.add("driver", replicas[0].probe.get("driver_version"))
    bad = {k: v for k, v in problems.items() if v}
    assert not bad, bad


@pytest.mark.cuda
def test_replica_gpu_is_a_host_gpu(
    observed: Observed, plan: Plan, live_cluster: LiveCluster, gpuconf_settings: Settings, evidence: Evidence
) -> None:
    """The UUID the replica sees is one of the GPUs the host (nvidia-smi) has."""
    replicas = _gpu_replicas(observed, plan)
    host = {g["uuid"] for g in live_cluster.physical_gpus}
    seen = {o.replica_id: [d.get("uuid") for d in o.probe.get("devices") or []] for o in replicas}
    evidence.add("seen", seen)
    evidence.add("host_gpus", sorted(host))
    assert all(u in host for uuids in seen.values() for u in uuids), f"{seen} not all in {host}"


def test_head_and_cpu_nodes_see_no_gpu(
    observed: Observed, live_cluster: LiveCluster, plan: Plan, evidence: Evidence
) -> None:
    """A zero-GPU task on the head and on every pod without a GPU limit sees no GPU, wherever the pod
    landed; a pod without GPUs whose Ray node never joined fails it (it was not seen)."""
    rows, problems = {}, []
    for node_id, probe in observed.nodes.items():
        record = live_cluster.records[node_id]
        if record.gpus_held > 0:
            continue
        why = sees_gpu(probe, record)
        rows[record.pod] = {
            "k8s_node": record.k8s_node,
            "cuda_visible_devices": probe.get("cuda_visible_devices"),
            "cuda_devices": cuda_device_count(probe),
            "cuda_source": (probe.get("cuda") or {}).get("source"),
            "sees_gpu": why,
        }
        if why:
            problems.append(f"{record.pod} on {record.k8s_node}: {why}")
    # A node that never joined (a starved host, a bad `ray start`) must not let the check pass unseen.
    unseen = unprobed_zero_gpu_pods(live_cluster.failed, {n.name: n.resources.get("GPU", 0.0) for n in plan.ray_nodes})
    problems += unseen
    evidence.add("nodes", rows)
    evidence.add("not_probed", unseen)
    assert rows or unseen, "no head or CPU node was probed"
    assert not problems, "; ".join(problems)


def test_zero_gpu_replicas_see_no_gpu(observed: Observed, plan: Plan, evidence: Evidence) -> None:
    """Replicas that reserved no GPU see none, wherever they landed (fails on Ray's default on a GPU node)."""
    # The options as deployed decide, so a num_gpus set in code counts as well as one in the config.
    zero = [d.key for d in observed.deployments if d.num_gpus == 0]
    rows, problems = {}, []
    for obs in observed.replicas:
        if f"{obs.app}/{obs.deployment}" not in zero:
            continue
        why = sees_gpu(obs.probe, obs.pod)
        rows[obs.replica_id] = {**obs.evidence(), "sees_gpu": why}
        if why:
            problems.append(f"{obs.app}/{obs.deployment} {obs.replica_id} on {obs.pod.pod if obs.pod else '?'}: {why}")
    evidence.add("zero_gpu_deployments", zero)
    evidence.add("replicas", rows)
    assert not problems, "; ".join(problems)
