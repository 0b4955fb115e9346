"""refresh() on the kwok backend: a pod KubeRay creates after start becomes a Ray node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuconf.backends import registry
from gpuconf.kube.client import KubeClient
from gpuconf.model.plan import Plan
from gpuconf.static.check import run_check
from gpuconf.waits import wait_until
from tests.runsettings import run_settings

pytestmark = [pytest.mark.local_control_plane, pytest.mark.autoscaling, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plan() -> Plan:
    """The shipped RayCluster's plan."""
    return next(p for p in run_check([ROOT / "manifests"]).plans if p.target.name.startswith("RayCluster/"))


def test_a_pod_created_later_becomes_a_ray_node_on_refresh(kube: KubeClient, plan: Plan, tmp_path: Path) -> None:
    settings = run_settings("kwok", ROOT / "manifests", tmp_path)
    live = registry.get("kwok").start(plan, settings)
    try:
        assert live.kube is not None
        namespace, name = live.kube.namespace, live.kube.raycluster
        before = {r.pod for r in live.records.values()}
        assert len([p for p in before if "cpu-workers" in p]) == 1
        # Scale the CPU group to two, as an autoscaler would: KubeRay creates the pod, kwok runs it.
        spec = json.loads(json.dumps(plan.target.cluster.spec))
        group = next(g for g in spec["workerGroupSpecs"] if g["groupName"] == "cpu-workers")
        group["replicas"] = group["maxReplicas"] = 2
        labels = (kube.read_raycluster(namespace, name) or {})["metadata"].get("labels", {})
        kube.apply_raycluster(namespace, name, spec, labels)
        new = wait_until(
            lambda: next(
                (
                    p
                    for p in kube.cluster_pods(namespace, name)
                    if p.group == "cpu-workers" and p.node and p.ready and p.name not in before
                ),
                None,
            ),
            "KubeRay's second cpu-workers pod to be Ready",
            tier="kube",
        )
        assert new.name not in {r.pod for r in live.records.values()}  # nothing changes until refresh()

        live.refresh()

        record = next((r for r in live.records.values() if r.pod == new.name), None)
        assert record is not None, f"{new.name} did not become a Ray node: {live.failed}"
        assert (record.group, record.k8s_node) == ("cpu-workers", new.node)
        assert record.ray_labels.get("ray.io/node-group") == "cpu-workers"
        assert before < {r.pod for r in live.records.values()}
        assert live.kube.pod(new.name) is not None
    finally:
        live.stop()
