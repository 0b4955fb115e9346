"""Embedded autoscaling without a cluster: Ray's config from the RayCluster, the planned pods, the timeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuconf.backends.embedded import provider as prov
from gpuconf.backends.embedded.autoscaling import HEAD_ID, autoscaling_config, fake_id, slots_of
from gpuconf.live.observe import PodRecord
from gpuconf.live.timeline import Sample, Timeline
from gpuconf.model.plan import Plan
from gpuconf.static.check import run_check
from suites.scaling.scaling import gpu_capacity, gpu_ceiling, gpu_groups, gpu_target

REPO = Path(__file__).resolve().parents[1]


def _plan(root: Path) -> Plan:
    result = run_check([root], None, None)
    return sorted(result.plans, key=lambda p: not p.target.name.startswith("RayCluster/"))[0]


@pytest.fixture(scope="module")
def scaled() -> Plan:
    return _plan(REPO / "overlays" / "scaling")


def test_node_types_are_rays_own_reading_of_the_raycluster(scaled: Plan, tmp_path: Path) -> None:
    """Ray's KubeRay builder makes the node types: min/max workers, resources, idle timeout; our provider runs them."""
    config = autoscaling_config(scaled, tmp_path, [])
    gpu = config["available_node_types"]["gpu-workers"]
    assert (gpu["min_workers"], gpu["max_workers"]) == (0, 2)
    assert gpu["resources"]["GPU"] == 1 and gpu["resources"]["gpu_worker"] == 1
    assert "GPU" not in config["available_node_types"]["cpu-workers"]["resources"]
    assert config["idle_timeout_minutes"] == pytest.approx(15 / 60)
    assert config["provider"]["type"] == "external"
    assert config["provider"]["module"] == "gpuconf.backends.embedded.provider.PlannedPodProvider"
    assert config["provider"]["use_node_id_as_ip"] is True and config["provider"]["head_node_id"] == HEAD_ID


def test_slots_are_the_plans_autoscaled_pods(scaled: Plan) -> None:
    """Each GPU pod the autoscaler may add, bound where the scheduler model binds it."""
    slots = slots_of(scaled)
    assert [(s["pod"], s["k8s_node"]) for s in slots["gpu-workers"]] == [
        ("ml-cluster-gpu-workers-worker-0", "gpu-node-1"),
        ("ml-cluster-gpu-workers-worker-1", "gpu-node-2"),
    ]
    assert "cpu-workers" not in slots  # fixed at one pod


def test_untolerated_autoscaled_pod_is_pending_with_the_schedulers_reason() -> None:
    """Without the toleration the first pod the autoscaler could add is Pending, and says why."""
    plan = _plan(REPO / "overlays" / "scaling-regressions" / "autoscaled-pods-lack-toleration")
    (slot,) = slots_of(plan)["gpu-workers"]
    assert slot["k8s_node"] is None
    assert "untolerated taint" in slot["pending"]


def _provider(tmp_path: Path, slots: dict, monkeypatch: pytest.MonkeyPatch) -> prov.PlannedPodProvider:
    monkeypatch.setenv("RAY_FAKE_CLUSTER", "1")
    config = {
        "gcs_address": "127.0.0.1:1",
        prov.SLOTS_KEY: slots,
        prov.FIXED_KEY: [{"provider_id": fake_id(1), "pod": "p-cpu-0", "group": "cpu", "k8s_node": "cpu-node-1"}],
        prov.STATE_KEY: str(tmp_path / "state.json"),
        prov.HEAD_TYPE_KEY: "headgroup",
        prov.OBJECT_STORE_KEY: 1,
        prov.POD_LABEL_KEY: "pod",
        prov.NODE_LABEL_KEY: "node",
    }
    return prov.PlannedPodProvider(config, "c")


def test_a_pending_slot_starts_no_ray_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The autoscaler's launch of an unschedulable pod records it Pending, with the reason; no Ray node starts."""
    slots = {"gpu": [{"pod": "p-gpu-0", "k8s_node": None, "pending": "0/3 nodes are available: untolerated taint"}]}
    p = _provider(tmp_path, slots, monkeypatch)
    assert p.non_terminated_nodes({}) == [HEAD_ID, fake_id(1)]  # the fixed pod is the provider's node already
    p.create_node_with_resources_and_labels({}, {"ray-user-node-type": "gpu"}, 1, {"CPU": 1, "GPU": 1}, {})
    state = json.loads((tmp_path / "state.json").read_text())
    pending = [x for x in state["pods"] if x["pending"]]
    assert pending == [
        {
            "pod": "p-gpu-0",
            "group": "gpu",
            "k8s_node": None,
            "pending": "0/3 nodes are available: untolerated taint",
            "provider_id": fake_id(2),
        }
    ]
    assert p._nodes[fake_id(2)]["node"] is None
    # One more than the plan has: Pending too, for the same reason.
    p.create_node_with_resources_and_labels({}, {"ray-user-node-type": "gpu"}, 1, {"CPU": 1, "GPU": 1}, {})
    assert p._nodes[fake_id(3)]["pending"].endswith("untolerated taint")
    p.terminate_node(fake_id(2))
    events = json.loads((tmp_path / "state.json").read_text())["events"]
    assert [e["event"] for e in events] == ["pending", "pending", "deleted"]


def test_capacity_and_ceiling_of_the_scaled_plan(scaled: Plan) -> None:
    """Two GPU nodes, one GPU each: two replicas at most, two GPU worker pods at most, one GPU group."""
    target = gpu_target(scaled)
    assert target is not None
    assert gpu_capacity(scaled, target) == 2
    assert gpu_ceiling(scaled) == 2
    assert gpu_groups(scaled) == {"gpu-workers"}


def _rec(pod: str, head: bool, gpu: bool) -> PodRecord:
    return PodRecord(f"id-{pod}", pod, f"node-{pod}", "g", head, gpu, 1.0 if gpu else 0.0, {"GPU": 1.0 if gpu else 0.0})


def test_timeline_flags_a_replica_on_the_head_or_a_cpu_node(tmp_path: Path) -> None:
    """A replica placed on the head or a CPU node is misplaced at that sample; unplaced ones are not."""
    line = Timeline("app", "Dep")

    def replica(rid: str, rec: PodRecord | None, state: str = "RUNNING") -> dict:
        return {
            "replica": rid,
            "state": state,
            "node_id": rec.node_id if rec else None,
            "pod": rec.pod if rec else None,
            "k8s_node": rec.k8s_node if rec else None,
            "group": "g",
            "is_head": rec.is_head if rec else False,
            "gpu_node": rec.gpu_node if rec else False,
            "node_gpus": 1.0,
        }

    head, cpu, gpu = _rec("head", True, False), _rec("cpu", False, False), _rec("gpu", False, True)
    pods = [{"pod": r.pod, "gpu_node": r.gpu_node, "is_head": r.is_head} for r in (head, cpu, gpu)]
    line.samples.append(Sample(0.0, "ok", [replica("a", gpu), replica("b", None, "PENDING_ALLOCATION")], pods, []))
    assert line.misplaced() == []
    line.samples.append(Sample(1.0, "bad", [replica("c", head), replica("d", cpu)], pods, []))
    assert line.misplaced() == [
        "t=1s: replica c (RUNNING) on the head: head@node-head",
        "t=1s: replica d (RUNNING) on a CPU node: cpu@node-cpu",
    ]
    assert len(line.samples[0].gpu_workers()) == 1

    paths = line.plot(tmp_path, "run")
    assert [p.name for p in paths] == ["run.png", "run.svg"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_a_spec_rays_autoscaler_cannot_read_fails_with_its_reason(tmp_path: Path) -> None:
    """A custom resource of 1.0 is not an int to Ray's builder: the backend says so instead of starting."""
    plan = _plan(REPO / "manifests" / "regressions" / "autoscaler-reads-resources-as-int.yaml")
    with pytest.raises(RuntimeError, match="Ray's autoscaler cannot read RayCluster"):
        autoscaling_config(plan, tmp_path, [])
