"""The cluster backend's scaling opt-in: --allow-scaling → the autoscaling capability → the skip reason,
the --scaling-budget, the restore of the worker groups it found, and refresh() picking up new Ray nodes.

No cluster here: the API server is a fake (FakeRayClusterApi, a dict with a small JSON-patch applier),
and the refresher gets a fake deployment and a fake node probe. The cluster itself is exercised by the
scaling suite run with --backend=cluster --allow-scaling (docs/scaling.md).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gpuconf.backends.cluster.backend import ClusterBackend
from gpuconf.backends.cluster.refresh import cluster_refresher
from gpuconf.backends.cluster.scaling import (
    NEEDS_ALLOW_SCALING,
    ReplicaRestore,
    ScalingBudget,
    ScalingBudgetSpent,
    restore_ops,
)
from gpuconf.backends.cluster.target import ClusterTarget
from gpuconf.kube.objects import PodInfo
from gpuconf.kube.view import KubeView
from gpuconf.live.contract import Capability, LiveCluster
from gpuconf.live.observe import PodRecord
from gpuconf.live.settings import Settings
from gpuconf.testing.plugin import capabilities_for, missing_capability
from gpuconf.waits import wait_until
from tests.runsettings import run_settings

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]


def settings(**over: Any) -> Settings:
    return run_settings("cluster", Path("overlays/scaling"), Path("reports"), **over)


@dataclass
class MarkedItem:
    """Stands in for a pytest item: only the markers missing_capability reads."""

    markers: set[str]

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name in self.markers else None


# -- the option → the capability → the skip reason ------------------------------------------------


def test_without_allow_scaling_the_cluster_backend_withholds_autoscaling() -> None:
    backend = ClusterBackend()
    assert Capability.AUTOSCALING not in capabilities_for(backend, settings())
    reason = missing_capability(MarkedItem({"ray", "autoscaling"}), backend, settings())  # type: ignore[arg-type]
    assert reason is not None and reason.endswith(NEEDS_ALLOW_SCALING)
    assert reason.startswith("needs autoscaling, ") and "on the cluster backend this changes" in reason


def test_with_allow_scaling_the_cluster_backend_has_autoscaling_for_that_run() -> None:
    backend = ClusterBackend()
    allowed = settings(allow_scaling=True)
    assert Capability.AUTOSCALING in capabilities_for(backend, allowed)
    assert missing_capability(MarkedItem({"ray", "autoscaling"}), backend, allowed) is None  # type: ignore[arg-type]
    # the choice is per run: the backend object itself is unchanged
    assert Capability.AUTOSCALING not in capabilities_for(backend, settings())


def test_a_capability_the_backend_never_has_keeps_its_own_reason() -> None:
    reason = missing_capability(  # type: ignore[arg-type]
        MarkedItem({"local_control_plane"}), ClusterBackend(), settings(allow_scaling=True)
    )
    assert reason is not None and "does not provide it" in reason and "allow-scaling" not in reason


def test_the_scaling_suite_skips_on_the_cluster_backend_saying_pass_allow_scaling(tmp_path: Path) -> None:
    """The real suite, collected with the real plugin: every scaling check skips before any cluster is reached."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/scaling/test_scaling.py",
            "--backend=cluster",
            f"--kubeconfig={tmp_path / 'no-such-kubeconfig'}",
            "--manifests=overlays/scaling",
            f"--report-dir={tmp_path}",
            "-rs",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "3 skipped" in out, out
    skipped = next(line for line in out.splitlines() if line.startswith("SKIPPED [3] suites/scaling/test_scaling.py"))
    assert skipped.endswith(f"on the cluster backend this {NEEDS_ALLOW_SCALING}"), out


def test_scaling_budget_must_be_positive(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--co",
            "-q",
            "--scaling-budget=0",
            f"--report-dir={tmp_path}",
            "tests/__init__.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode != 0 and "--scaling-budget must be a positive number of seconds" in res.stderr + res.stdout


# -- the budget -----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_starts_at_the_first_charge_and_stops_once_spent() -> None:
    clock = Clock()
    budget = ScalingBudget(60.0, clock=clock)
    clock.now += 500  # time before the first scaling sample does not count
    assert budget.charge() == 60.0
    clock.now += 59
    assert budget.charge() == pytest.approx(1.0)
    clock.now += 2
    with pytest.raises(ScalingBudgetSpent, match=r"61s of --scaling-budget 60s"):
        budget.charge()
    with pytest.raises(ScalingBudgetSpent):  # and stays spent: the checks after it fail at once too
        budget.charge()


def test_a_spent_budget_ends_a_bounded_wait_at_once() -> None:
    """wait_until retries a probe that raises an Exception; the spent budget must not be retried."""
    clock = Clock()
    budget = ScalingBudget(1.0, clock=clock)
    calls: list[int] = []

    def probe() -> None:
        calls.append(1)
        clock.now += 2
        budget.charge()
        return None

    with pytest.raises(ScalingBudgetSpent):
        wait_until(probe, "a scaling sample", tier="serve_app", interval=0.01)
    assert len(calls) == 2  # the first charge starts the budget, the second finds it spent


# -- restoring what the run found -----------------------------------------------------------------


def _apply_json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """A small JSON-patch (RFC 6902) applier for test/replace/add/remove, atomic like the API server's."""
    out = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [p for p in op["path"].split("/")[1:]]
        node = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if op["op"] == "test":
            if node[key] != op["value"]:
                raise ValueError(f"test failed at {op['path']}: {node[key]!r} != {op['value']!r}")
        elif op["op"] == "replace":
            if key not in node:
                raise ValueError(f"replace of a missing {op['path']}")
            node[key] = op["value"]
        elif op["op"] == "add":
            node[key] = op["value"]
        elif op["op"] == "remove":
            del node[key]
    return out


@dataclass
class FakeRayClusterApi:
    """A fake API server holding RayClusters as dicts; patches are JSON patches, as the real one takes."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    patches: list[list[dict[str, Any]]] = field(default_factory=list)

    def read_raycluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def patch_raycluster(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        self.patches.append(ops)
        self.objects[(namespace, name)] = _apply_json_patch(self.objects[(namespace, name)], ops)


def raycluster() -> dict[str, Any]:
    return {
        "spec": {
            "enableInTreeAutoscaling": True,
            "workerGroupSpecs": [
                {"groupName": "cpu-workers", "replicas": 1, "minReplicas": 1, "maxReplicas": 2},
                {"groupName": "gpu-workers", "replicas": 0, "minReplicas": 0, "maxReplicas": 2},
            ],
        }
    }


def groups(api: FakeRayClusterApi) -> list[dict[str, Any]]:
    return list(api.objects[("ns", "ml")]["spec"]["workerGroupSpecs"])


def test_restore_puts_back_the_replicas_and_bounds_it_found() -> None:
    api = FakeRayClusterApi({("ns", "ml"): raycluster()})
    restore = ReplicaRestore.record(api, "ns", "ml")
    assert restore.found["gpu-workers"] == {"replicas": 0, "minReplicas": 0, "maxReplicas": 2}
    # the autoscaler grew the GPU group; a check raised its ceiling and dropped cpu-workers' minReplicas
    gpu = api.objects[("ns", "ml")]["spec"]["workerGroupSpecs"][1]
    gpu.update(replicas=2, maxReplicas=3)
    del api.objects[("ns", "ml")]["spec"]["workerGroupSpecs"][0]["minReplicas"]
    ops = restore.restore()
    assert groups(api) == raycluster()["spec"]["workerGroupSpecs"]
    assert {"op": "add", "path": "/spec/workerGroupSpecs/0/minReplicas", "value": 1} in ops
    assert restore.evidence()["restored"] == ops
    assert restore.restore() == [] and len(api.patches) == 1  # once only (keep, then stop)


def test_restore_sends_nothing_when_nothing_changed_or_the_raycluster_is_gone() -> None:
    api = FakeRayClusterApi({("ns", "ml"): raycluster()})
    assert ReplicaRestore.record(api, "ns", "ml").restore() == []
    gone = ReplicaRestore.record(api, "ns", "ml")
    del api.objects[("ns", "ml")]
    assert gone.restore() == [] and api.patches == []


def test_restore_leaves_a_group_added_since_and_refuses_a_reordered_list() -> None:
    found = {"gpu-workers": {"replicas": 0, "maxReplicas": 2}}
    now = {
        "spec": {
            "workerGroupSpecs": [
                {"groupName": "extra", "replicas": 5},
                {"groupName": "gpu-workers", "replicas": 2, "maxReplicas": 2},
            ]
        }
    }
    ops = restore_ops(found, now)
    assert ops == [
        {"op": "test", "path": "/spec/workerGroupSpecs/1/groupName", "value": "gpu-workers"},
        {"op": "replace", "path": "/spec/workerGroupSpecs/1/replicas", "value": 0},
    ]
    # the list reordered between the read and the patch: the guard fails the whole patch
    reordered = {"spec": {"workerGroupSpecs": list(reversed(now["spec"]["workerGroupSpecs"]))}}
    with pytest.raises(ValueError, match="test failed"):
        _apply_json_patch(reordered, ops)


# -- refresh() reads pods and Ray nodes again -----------------------------------------------------


@dataclass
class FakeDeployment:
    """A fake KubeDeployment: its pods change when the test says the autoscaler made new ones."""

    pods: list[PodInfo]
    nodes: list[Any] = field(default_factory=list)
    refreshed: int = 0

    def refresh(self) -> None:
        self.refreshed += 1

    def pending(self) -> list[dict[str, str]]:
        return [{"pod": p.name, "group": p.group, "reason": ""} for p in self.pods if p.node is None]


class Plan:
    class expectations:
        gpu_resource = "nvidia.com/gpu"

        @staticmethod
        def is_gpu_node(labels: dict[str, str]) -> bool:
            return labels.get("gpu") == "true"


def pod(name: str, group: str, node: str | None) -> PodInfo:
    labels = {"ray.io/group": group, "ray.io/node-type": "head" if group == "headgroup" else "worker"}
    return PodInfo(name, "ns", node, "Running" if node else "Pending", bool(node), labels, {}, {}, [])


def probe_row(node_id: str, pod_name: str) -> dict[str, Any]:
    return {"node_id": node_id, "is_head": pod_name.startswith("head"), "probe": {"hostname": pod_name}}


def live_with(records: dict[str, PodRecord]) -> LiveCluster:
    target = ClusterTarget("http://127.0.0.1:1", "http://127.0.0.1:2", None)
    return LiveCluster(
        "cluster", records, [], [], {}, target.dashboard_url, target, lambda: 0, kube=KubeView("ns", "ml", [], [])
    )


def test_refresh_probes_a_new_ray_node_and_drops_a_gone_one() -> None:
    dep = FakeDeployment([pod("head-0", "headgroup", "n0")])
    ray_pods = {"h": "head-0"}  # alive Ray node id → the pod its probe runs in
    probes: list[int] = []

    def probe() -> list[dict[str, Any]]:
        probes.append(1)
        return [probe_row(i, name) for i, name in ray_pods.items()]

    live = live_with({"h": PodRecord("h", "head-0", "n0", "headgroup", True, False, 0.0)})
    target = live.serve
    assert isinstance(target, ClusterTarget)
    refresh = cluster_refresher(dep, Plan(), target, lambda: set(ray_pods), probe, None)  # type: ignore[arg-type]
    refresh(live)
    assert probes == [] and dep.refreshed == 1  # nothing joined: no probe job
    # the autoscaler added a GPU worker pod, bound, and its Ray node joined
    dep.pods.append(pod("gpu-0", "gpu-workers", "gpu-node"))
    dep.pods.append(pod("gpu-1", "gpu-workers", None))
    ray_pods["w"] = "gpu-0"
    refresh(live)
    assert probes == [1]
    assert live.records["w"].pod == "gpu-0" and live.records["w"].group == "gpu-workers"
    assert live.pending == [{"pod": "gpu-1", "group": "gpu-workers", "reason": ""}]
    assert live.kube is not None and [p.name for p in live.kube.pods] == ["head-0", "gpu-0", "gpu-1"]
    # scaled down: the Ray node leaves
    del ray_pods["w"]
    refresh(live)
    assert set(live.records) == {"h"} and probes == [1]


def test_refresh_charges_the_budget_before_reading_anything() -> None:
    dep = FakeDeployment([])
    clock = Clock()
    budget = ScalingBudget(10.0, clock=clock)
    live = live_with({})
    target = live.serve
    assert isinstance(target, ClusterTarget)
    refresh = cluster_refresher(dep, Plan(), target, set, list, budget)  # type: ignore[arg-type]
    refresh(live)
    clock.now += 11
    with pytest.raises(ScalingBudgetSpent):
        refresh(live)
    assert dep.refreshed == 1


def test_a_spent_budget_fails_the_check_and_the_session_goes_on(tmp_path: Path) -> None:
    """ScalingBudgetSpent is a BaseException: pytest must still report it as that check's failure, with its message."""
    (tmp_path / "test_spent.py").write_text(
        "from gpuconf.backends.cluster.scaling import ScalingBudget\n"
        "def test_spent():\n"
        "    budget = ScalingBudget(0.0, clock=iter([0.0, 5.0]).__next__)\n"
        "    budget.charge()\n"
        "    budget.charge()\n"
        "def test_after():\n"
        "    pass\n"
    )
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(tmp_path / "test_spent.py")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "1 failed, 1 passed" in out and "the scaling budget is spent: 5s of --scaling-budget 0s" in out, out
