"""One rule for a pod's Ray resources: the plan and the kwok backend agree, pod by pod.

The plan derives each Ray node from its modelled pod; the kwok backend from the pod the API
server holds and the command KubeRay wrote into it. Both call gpuconf.model.raynode. Here the
kwok side is fed the pod as KubeRay builds it from the plan's group (its env, limits, image,
annotations and generated command; tests/kwok/test_fidelity.py checks that against the real
operator) and, for DRA claims, the ResourceClaims holding the plan's allocation as the scheduler
writes them; the local Ray node it would start must carry the plan's resources.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpuconf.backends.kwok.backend import spec_for_pod
from gpuconf.backends.kwok.dra import allocated_gpus
from gpuconf.backends.localray.gpus import HostGpu
from gpuconf.backends.localray.launcher import cuda_visible_for
from gpuconf.backends.localray.specs import specs_from_plan
from gpuconf.errors import InputError
from gpuconf.inputs.loader import get
from gpuconf.kube.objects import NodeInfo, PodInfo
from gpuconf.model.plan import Plan, PodPlan
from gpuconf.static.check import run_check
from tests.test_inputs_real import samples  # noqa: F401  (the fixture)

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
NODES = MANIFESTS / "nodes"


def _roots() -> list[Path]:
    """Every shipped manifest root (manifests/ and each overlay folder holding a cluster) and every regression case."""
    overlays = sorted(
        {p.parent for p in (REPO / "overlays").rglob("*.yaml") if p.name in ("raycluster.yaml", "rayservice.yaml")}
    )
    return [MANIFESTS, *overlays, *sorted((MANIFESTS / "regressions").glob("*.yaml"))]


ROOTS = _roots()


def _plans(path: Path, nodes: list[Path] | None = None) -> list[Plan]:
    try:
        return run_check([path], nodes).plans
    except InputError:
        return []  # refused on input: no plan, no pods (tests/test_inputs_catalogue.py covers those)


def kubernetes_pod(pod: PodPlan) -> PodInfo:
    """The pod KubeRay creates for this planned pod, as the API server returns it (pod_info's reading)."""
    group = pod.group
    return PodInfo(
        name=pod.name,
        namespace="ns",
        node=pod.node,
        phase="Running",
        ready=True,
        labels={"ray.io/group": group.label, "ray.io/node-type": "head" if group.is_head else "worker"},
        env={**group.env, "KUBERAY_GEN_RAY_START_CMD": group.command},
        limits=dict(group.container_limits),
        tolerations=[],
        image=group.image,
        annotations={str(k): str(v) for k, v in (get(group.template, "metadata", "annotations") or {}).items()},
    )


def _node(plan: Plan, name: str) -> NodeInfo:
    """The node as the API server returns it (node_info's reading)."""
    model = plan.node(name)
    return NodeInfo(model.name, dict(model.labels), list(model.taints), dict(model.allocatable))


def _disagreements(plan: Plan) -> Iterator[str]:
    """Each pod whose local kwok Ray node would carry other resources than the plan's Ray node."""
    for pod in plan.pods:
        if pod.node is None or pod.group.start.error is not None:
            continue  # Pending, or `ray start` fails: no Ray node on either tier
        info = kubernetes_pod(pod)
        gpus = allocated_gpus(plan, [info], api_claims(pod)).get(pod.name, ())
        kwok = spec_for_pod(info, _node(plan, pod.node), plan, dra_gpus=gpus).planned_resources
        planned = plan.ray_node(pod.name).resources
        if kwok != planned:
            yield f"{plan.target.name} {pod.name}: plan {planned} != kwok {kwok}"


def api_claims(pod: PodPlan) -> list[dict[str, Any]]:
    """The ResourceClaims the claim controller makes for this pod, with the scheduler's allocation as the plan
    has it (resource.k8s.io/v1, as the API server returns them)."""
    return [
        {
            "metadata": {
                "name": f"{pod.name}-{claim}-x7k2p",
                "ownerReferences": [{"kind": "Pod", "name": pod.name}],
                "annotations": {"resource.kubernetes.io/pod-claim-name": claim},
            },
            "status": {
                "allocation": {
                    "devices": {
                        "results": [
                            {"request": "gpu", "driver": d.driver, "pool": d.pool, "device": d.name} for d in devices
                        ]
                    }
                }
            },
        }
        for claim, devices in (pod.dra.by_claim.items() if pod.dra else [])
        if claim  # "" stands for an extended resource DRA serves: no claim the pod names
    ]


@pytest.mark.parametrize("root", ROOTS, ids=[str(p.relative_to(REPO)) for p in ROOTS])
def test_plan_and_kwok_agree_on_ray_resources(root: Path) -> None:
    """Every Ray node of every target: the plan's resources are the kwok backend's."""
    plans = _plans(root)
    assert [d for p in plans for d in _disagreements(p)] == []


def test_the_agreement_covers_gpu_nodes() -> None:
    """The roots compared hold Ray nodes with GPUs, with leaked GPUs and without: the agreement is not vacuous."""
    nodes = [n for root in ROOTS for p in _plans(root) for n in p.ray_nodes]
    assert sum(1 for n in nodes if n.resources.get("GPU", 0) > 0) >= 20
    assert any(
        n.resources.get("GPU", 0) > 0 and "NVIDIA_VISIBLE_DEVICES=all" in " ".join(n.autodetected) for n in nodes
    )
    assert any(n.resources.get("GPU", 0) == 0 for n in nodes)
    assert any(n.resources.get("GPU", 0) > 0 and "DRA gives" in " ".join(n.autodetected) for n in nodes)


@pytest.fixture(scope="module")
def kuberay_gpu_samples(samples: list[Path]) -> list[Path]:  # noqa: F811  (the fixture imported above)
    """KubeRay v1.5.0's samples that ask for GPUs (tests/test_inputs_real.py reads them from the Go module cache)."""
    return [p for p in samples if "gpu" in p.read_text(encoding="utf-8").lower()]


def test_plan_and_kwok_agree_on_kuberays_gpu_samples(kuberay_gpu_samples: list[Path]) -> None:
    """KubeRay's own GPU samples on the shipped pool: no pod whose two readings differ."""
    plans = [p for path in kuberay_gpu_samples for p in _plans(path, [NODES])]
    assert len(plans) >= 5, [p.target.name for p in plans]
    assert [d for p in plans for d in _disagreements(p)] == []


def test_visible_devices_all_with_a_gpu_limit_sees_the_limit_on_both_tiers(tmp_path: Path) -> None:
    """NVIDIA_VISIBLE_DEVICES=all beside an nvidia.com/gpu limit: Ray sees the 1 GPU of the limit.

    The device plugin sets NVIDIA_VISIBLE_DEVICES to the devices it allocated, over the pod's
    `all`. KubeRay drops --num-gpus here (it cannot read the resources JSON), so Ray counts what
    the container sees. The old kwok code gave the pod every GPU of its node (4) whenever the
    pod's env said `all`, whatever the limit: this test failed on it.
    """
    case = (MANIFESTS / "regressions" / "kuberay-drops-num-gpus.yaml").read_text(encoding="utf-8")
    image = "              image: rayproject/ray:2.60.0-py311-gpu\n"
    at = case.index(image, case.index("groupName: gpu-workers")) + len(image)
    env = "              env:\n                - name: NVIDIA_VISIBLE_DEVICES\n                  value: all\n"
    (tmp_path / "cluster.yaml").write_text(case[:at] + env + case[at:], encoding="utf-8")
    (tmp_path / "nodes").mkdir()
    pool = (NODES / "gpu-pool.yaml").read_text(encoding="utf-8").replace('nvidia.com/gpu: "1"', 'nvidia.com/gpu: "4"')
    (tmp_path / "nodes" / "gpu-pool.yaml").write_text(pool, encoding="utf-8")

    [plan] = [
        p for p in _plans(tmp_path / "cluster.yaml", [tmp_path / "nodes"]) if p.target.name.startswith("RayCluster/")
    ]
    pod = next(p for p in plan.pods if p.group.name == "gpu-workers")
    assert "--num-gpus" not in pod.group.command and pod.group.env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert pod.node is not None and plan.expectations.gpus(plan.node(pod.node).allocatable) == 4
    assert plan.ray_node(pod.name).resources["GPU"] == 1.0
    assert spec_for_pod(kubernetes_pod(pod), _node(plan, pod.node), plan).planned_resources["GPU"] == 1.0
    assert list(_disagreements(plan)) == []


def test_the_local_nodes_see_every_gpu_by_the_same_rule_on_both_tiers() -> None:
    """On a GPU host the launcher leaves every device to a pod whose container sees them all.

    cuda-image-leaks-gpus: the CPU group's image sets NVIDIA_VISIBLE_DEVICES=all (the image's
    env, not the pod's): the embedded and kwok specs both mark it, so on a GPU host its Ray
    processes see the host's GPUs, as the container would. The old launcher read only the pod's
    env and hid them. A GPU-limited pod sees only its grant, and a plain CPU pod none.
    """
    [plan] = _plans(MANIFESTS / "regressions" / "cuda-image-leaks-gpus.yaml")
    specs = {s.group: s for s in specs_from_plan(plan)}
    kwok = {p.group.label: spec_for_pod(kubernetes_pod(p), _node(plan, p.node), plan) for p in plan.pods if p.node}
    leaky = [g for g, s in specs.items() if s.sees_all_gpus]
    assert leaky and all(not specs[g].env.get("NVIDIA_VISIBLE_DEVICES") for g in leaky)  # from the image alone
    assert {g for g, s in kwok.items() if s.sees_all_gpus} == set(leaky)
    grant = [HostGpu(0, "GPU-0", "NVIDIA H100")]
    for group, spec in specs.items():
        seen = cuda_visible_for(spec, grant if spec.gpus_held else [], host_has_gpus=True)
        if spec.gpus_held:
            assert seen == "0", group
        else:
            assert seen == (None if group in leaky else ""), group
