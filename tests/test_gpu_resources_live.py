"""The live backends count GPUs as the static tier does: every GPU resource, not one name.

A pod whose GPU is a MIG slice (or an AMD GPU) on a pool that mostly advertises nvidia.com/gpu
is still a GPU pod: its local Ray node gets the GPU its limit holds, and the node is a GPU node.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from gpuconf.backends.kwok.backend import spec_for_pod
from gpuconf.kube.objects import NodeInfo, PodInfo
from gpuconf.model.plan import Plan
from gpuconf.static.check import run_check

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
MIG = "nvidia.com/mig-1g.10gb"


def _plan(tmp_path: Path, gpu_resources: str | None) -> Plan:
    """The shipped manifests, with the expectations' GPU resource line replaced (None: removed)."""
    for name in ("raycluster.yaml", "serve-config.yaml", "expectations.yaml"):
        shutil.copy(MANIFESTS / name, tmp_path / name)
    shutil.copytree(MANIFESTS / "nodes", tmp_path / "nodes")
    exp = tmp_path / "expectations.yaml"
    exp.write_text(exp.read_text().replace("  gpuResource: nvidia.com/gpu\n", gpu_resources or ""))
    result = run_check([tmp_path])
    assert result.plans, [f.message for f in result.findings]
    return result.plans[0]


def _pod(limits: dict[str, Decimal], env: dict[str, str] | None = None, command: str | None = None) -> PodInfo:
    """A GPU worker pod; its command has the --num-gpus KubeRay writes from a GPU limit unless `command` is given."""
    return PodInfo(
        name="ml-cluster-gpu-workers-worker-x",
        namespace="ns",
        node="gpu-node-1",
        phase="Running",
        ready=True,
        labels={"ray.io/group": "gpu-workers", "ray.io/node-type": "worker"},
        env={"KUBERAY_GEN_RAY_START_CMD": command or "ray start --address=h:6379 --num-gpus=1", **(env or {})},
        limits=limits,
        tolerations=[],
    )


def _gpu_node(plan: Plan) -> NodeInfo:
    node = plan.node("gpu-node-1")
    return NodeInfo("gpu-node-1", dict(node.labels), [], {MIG: Decimal(7), "cpu": Decimal(8)})


def test_a_mig_pod_is_a_gpu_pod_on_kwok(tmp_path: Path) -> None:
    plan = _plan(tmp_path, None)
    assert plan.expectations.gpu_resource == "nvidia.com/gpu"  # the name messages use; the count is every GPU
    spec = spec_for_pod(_pod({MIG: Decimal(1), "cpu": Decimal(2)}), _gpu_node(plan), plan)
    assert (spec.gpus_held, spec.planned_resources["GPU"], spec.gpu_node) == (1, 1.0, True)


def test_nvidia_visible_devices_all_sees_every_mig_slice_of_the_node(tmp_path: Path) -> None:
    plan = _plan(tmp_path, None)
    # No GPU limit, so KubeRay writes no --num-gpus: Ray counts what the container sees.
    pod = _pod({"cpu": Decimal(2)}, {"NVIDIA_VISIBLE_DEVICES": "all"}, "ray start --address=h:6379 --num-cpus=2")
    spec = spec_for_pod(pod, _gpu_node(plan), plan)
    assert (spec.gpus_held, spec.planned_resources["GPU"]) == (0, 7.0)


@pytest.mark.parametrize(
    ("listed", "expected"),
    [("  gpuResources: [nvidia.com/gpu]\n", 0), (f"  gpuResources: [nvidia.com/gpu, {MIG}]\n", 1)],
)
def test_the_expectations_list_narrows_what_counts(tmp_path: Path, listed: str, expected: int) -> None:
    plan = _plan(tmp_path, listed)
    assert PodInfo.gpu_limit(_pod({MIG: Decimal(1)}), plan.expectations.is_gpu_resource) == expected
    spec = spec_for_pod(_pod({MIG: Decimal(1)}), _gpu_node(plan), plan)
    assert spec.gpus_held == expected


def test_an_autoscaled_pod_gets_its_node_only_once_it_has_its_ip(tmp_path: Path) -> None:
    """Bound but without an IP yet: no node (it would advertise the host's address); with one, the pod's IP."""
    from dataclasses import replace
    from typing import Any, cast

    from gpuconf.backends.kwok.backend import specs_from_deployment
    from gpuconf.kube.deploy import KubeDeployment
    from gpuconf.kube.wait import ClusterState

    plan = _plan(tmp_path, None)
    pod = _pod({MIG: Decimal(1)})
    dep = KubeDeployment(
        cast(Any, None), "ns", "ml-cluster", cast(Any, None), ClusterState([pod], {}), [_gpu_node(plan)]
    )
    assert specs_from_deployment(dep, plan, pod_ip=True) == []
    assert [s.pod for s in specs_from_deployment(dep, plan)] == [pod.name]  # without pod_ip: loopback as before
    dep.state = ClusterState([replace(pod, ip="127.64.0.7")], {})
    [spec] = specs_from_deployment(dep, plan, pod_ip=True)
    assert "--node-ip-address=127.64.0.7" in spec.argv
