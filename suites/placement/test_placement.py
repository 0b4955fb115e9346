"""Placement, read from inside every replica: on GPU nodes only, with the GPUs it reserved."""

from __future__ import annotations

import pytest

from gpuconf.live.contract import LiveCluster, Observed
from gpuconf.live.verdicts import (
    accounting_problems,
    deployed_gpus_problem,
    has_physical_gpu,
    held_devices,
    label_problem,
    placement_problem,
)
from gpuconf.model.plan import Plan
from gpuconf.testing.evidence import Evidence

pytestmark = pytest.mark.ray


def _gpu_deployments(plan: Plan) -> list[tuple[str, str, float]]:
    return [(d.app, d.deployment, d.gpus_per_replica) for d in plan.expectations.gpu_deployments]


def _nothing_to_observe(observed: Observed, plan: Plan) -> None:
    """Skip (with the reason) when every expected-GPU deployment runs 0 replicas: there is no replica to judge."""
    keys = [f"{d.app}/{d.deployment}" for d in plan.expectations.gpu_deployments]
    views = [observed.deployment(*k.split("/", 1)) for k in keys]
    if keys and all(v is not None and v.target_replicas == 0 for v in views):
        pytest.skip("; ".join(observed.missing(*k.split("/", 1)) for k in keys))


def test_every_replica_answers(observed: Observed, live_cluster: LiveCluster, evidence: Evidence) -> None:
    """Each deployment of every app has as many distinct replicas answering from inside as Serve runs."""
    counts = {
        key: len([r for r in observed.replicas if f"{r.app}/{r.deployment}" == key])
        for key in observed.expected_replicas
    }
    evidence.add("summary", {"expected": observed.expected_replicas, "answered": counts})
    evidence.add("deployments", [d.evidence() for d in observed.deployments])
    evidence.add("cluster", live_cluster.evidence())
    problems = [
        observed.missing(*key.split("/", 1)) if not counts[key] else f"{key}: {counts[key]} of {n} replicas answered"
        for key, n in observed.expected_replicas.items()
        if counts[key] != n
    ]
    assert observed.deployments, "Serve lists no deployment of the user's apps"
    assert not problems and not observed.unanswered, "; ".join(problems) or observed.unanswered


def test_gpu_replicas_run_on_gpu_nodes(observed: Observed, plan: Plan, evidence: Evidence) -> None:
    """Every replica of an expected-GPU deployment sits on a Ray node of a pod on a GPU node: never the head or a CPU node."""
    _nothing_to_observe(observed, plan)
    problems, seen = [], []
    for app, dep, _ in _gpu_deployments(plan):
        replicas = observed.of(app, dep)
        view = observed.deployment(app, dep)
        if not replicas and not (view is not None and view.target_replicas == 0):
            problems.append(observed.missing(app, dep))
        for obs in replicas:
            seen.append(obs.evidence())
            problem = placement_problem(obs)
            if problem:
                problems.append(f"{app}/{dep}: {problem}")
    evidence.add("replicas", seen)
    evidence.add("summary", [f"{r['deployment']} {r['replica']} on {r['pod']}@{r['k8s_node']}" for r in seen])
    assert not problems, "; ".join(problems)


def test_replica_node_labels_match_its_pod(observed: Observed, evidence: Evidence) -> None:
    """The labels the replica reads for its own node name the group of the pod behind it."""
    problems = {obs.replica_id: label_problem(obs) for obs in observed.replicas}
    evidence.add("labels", {obs.replica_id: obs.probe.get("node_labels") for obs in observed.replicas})
    bad = {k: v for k, v in problems.items() if v}
    assert not bad, bad


def test_gpu_accounting_agrees(observed: Observed, plan: Plan, evidence: Evidence) -> None:
    """Pod nvidia.com/gpu limit = Ray node GPU >= ray.get_gpu_ids() = CUDA_VISIBLE_DEVICES (= torch devices on GPU hosts)."""
    _nothing_to_observe(observed, plan)
    problems, rows = [], []
    for app, dep, gpus in _gpu_deployments(plan):
        for obs in observed.of(app, dep):
            deployed = deployed_gpus_problem(obs, gpus)
            if deployed:
                problems.append(f"{app}/{dep} {obs.replica_id}: {deployed}")
            physical = has_physical_gpu(obs.probe)
            rows.append(
                {
                    **obs.evidence(),
                    "pod_gpus_held": obs.pod.gpus_held if obs.pod else None,
                    "ray_node_gpus": obs.pod.ray_resources.get("GPU") if obs.pod else None,
                    "physical": physical,
                }
            )
            problems += [f"{app}/{dep} {obs.replica_id}: {p}" for p in accounting_problems(obs, gpus, physical)]
    evidence.add("accounting", rows)
    assert rows, "no expected-GPU replica was observed"
    assert not problems, "; ".join(problems)


def test_whole_gpu_replicas_get_distinct_devices(observed: Observed, plan: Plan, evidence: Evidence) -> None:
    """Replicas that reserved whole GPUs hold different physical devices: UUIDs on GPU hosts; elsewhere the
    GPUs the device plugin hands out (time-slices or MPS shares of one GPU are one device), or node+id.

    Shared devices pass only where the expectations accept them (`sharedGpus: allow`)."""
    held: dict[str, list[str]] = {}
    clashes = []
    for app, dep, gpus in _gpu_deployments(plan):
        if gpus < 1:
            continue
        for obs in observed.of(app, dep):
            for key in held_devices(obs):
                if key in held:
                    clashes.append(f"{key} held by {' and '.join(held[key])} and {obs.replica_id}")
                held.setdefault(key, []).append(obs.replica_id)
    evidence.add("devices", held)
    evidence.add("shared_gpus", plan.expectations.shared_gpus)
    if plan.expectations.shared_gpus == "allow":
        evidence.add("shared", clashes)
        return
    assert not clashes, (
        "; ".join(clashes) + ": whole-GPU replicas share a GPU (time-slicing or MPS shares of one device); "
        "`sharedGpus: allow` in the expectations accepts that"
    )
