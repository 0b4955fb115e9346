"""The roads GPUs take to a Ray node: node inventories with DRA, other vendors and MIG, GPU models,
shared GPUs and DRA claims. Each rule has a passing case beside a failing one (docs/model.md, "GPU roads")."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gpuconf.model.accelerators import ray_type_from_gfd_product
from gpuconf.model.kuberay import cluster_groups
from gpuconf.static.check import CheckResult, run_check
from gpuconf.static.rules import ERROR, UNCHECKED, WARNING

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
FIXTURES = ROOT / "tests" / "fixtures" / "inventory"
POOL = FIXTURES / "pool-list.yaml"
DRA = FIXTURES / "dra-raycluster.yaml"


def rules(result: CheckResult, severity: str | None = None) -> set[str]:
    """The rules that fired (of one severity)."""
    return {f.rule for f in result.findings if severity is None or f.severity == severity}


def copy_of(tmp_path: Path, src: Path, *edits: tuple[str, str]) -> Path:
    """A copy of a manifest with exact, unique text replacements.

    A regression case is copied into a copy of manifests/, so it keeps the root it inherits from.
    """
    text = src.read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    folder = tmp_path
    if src.parent == MANIFESTS / "regressions":
        if not (tmp_path / "manifests").exists():
            shutil.copytree(MANIFESTS, tmp_path / "manifests")
        folder = tmp_path / "manifests" / "regressions"
    out = folder / src.name
    out.write_text(text)
    return out


# --- 1. node inventories -------------------------------------------------------------------


def test_kubectl_list_of_nodes_slices_and_classes_is_a_node_pool() -> None:
    """`kubectl get nodes,resourceslices,deviceclasses -o yaml` is read whole; a Karpenter NodePool is a notice."""
    result = run_check([MANIFESTS / "raycluster.yaml"], [POOL])
    [plan] = result.plans
    assert [n.name for n in plan.nodes] == ["cpu-node-1", "gpu-l4-1", "dra-h100-1"]
    assert [d.name for d in plan.node("dra-h100-1").dra] == ["gpu-0", "gpu-1"]
    assert any("ignored NodePool/gpu-h100" in str(n) for n in result.notices)


def test_a_pool_file_with_another_kind_is_still_refused(tmp_path: Path) -> None:
    """Only the inventory kinds are read beside Nodes: a ConfigMap in the pool is bad input (exit 2)."""
    from gpuconf.errors import InputError

    bad = tmp_path / "nodes.yaml"
    bad.write_text(POOL.read_text() + "  - {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n")
    with pytest.raises(InputError, match="expected kind Node, found ConfigMap"):
        run_check([MANIFESTS / "raycluster.yaml"], [bad])


# --- 2. other vendors and MIG ---------------------------------------------------------------


def _group(limits: str, params: str = "{}") -> list:
    import yaml

    from gpuconf.inputs.loader import load_yaml_documents

    spec = f"""
headGroupSpec:
  rayStartParams: {{}}
  template: {{spec: {{containers: [{{name: h, image: rayproject/ray:2.60.0, resources: {{limits: {{cpu: "1"}}}}}}]}}}}
workerGroupSpecs:
  - groupName: w
    replicas: 1
    rayStartParams: {params}
    template: {{spec: {{containers: [{{name: w, image: rayproject/ray:2.60.0, resources: {{limits: {limits}}}}}]}}}}
"""
    assert yaml.safe_load(spec)
    return cluster_groups(load_yaml_documents(spec, "x.yaml")[0], "c")


@pytest.mark.parametrize(
    ("limits", "num_gpus", "custom"),
    [
        ('{"amd.com/gpu": 2}', "2", {}),  # ends in "gpu": IsGPUResourceKey
        ('{"nvidia.com/mig-1g.10gb": 1}', "1", {}),  # the MIG pattern
        ('{"gpu.intel.com/i915": 1}', None, {}),  # neither: KubeRay derives nothing
        ('{"habana.ai/gaudi": 8}', None, {}),  # Gaudi: nothing (Ray sees HPU)
        ('{"google.com/tpu": 4}', None, {"TPU": 4.0}),  # customAcceleratorToRayResourceMap
        ('{"nvidia.com/gpu.shared": 1}', None, {}),  # a renamed share: not a GPU key to KubeRay
    ],
)
def test_what_kuberay_derives_from_each_vendor(limits: str, num_gpus: str | None, custom: dict) -> None:
    """KubeRay v1.5.0 common/pod.go addWellKnownAcceleratorResources, per vendor."""
    worker = _group(limits)[1]
    assert worker.start.options.get("num-gpus") == num_gpus
    assert worker.start.custom_resources() == custom


def test_tpu_is_added_beside_existing_custom_resources() -> None:
    """KubeRay rewrites rayStartParams.resources with TPU added, as json.Marshal prints it, in single quotes."""
    worker = _group('{"google.com/tpu": 4}', """{resources: "'{\\"slice\\": 1}'"}""")[1]
    assert worker.params.get("resources") is not None
    assert worker.start.custom_resources() == {"TPU": 4.0, "slice": 1.0}
    assert '--resources=\'{"TPU":4,"slice":1}\'' in worker.command


def test_a_gaudi_group_is_hpu_not_gpu(tmp_path: Path) -> None:
    """A group with only Gaudi: Ray gets HPU, never GPU, so a num_gpus: 1 replica cannot land there."""
    cluster = copy_of(
        tmp_path,
        MANIFESTS / "raycluster.yaml",
        (
            "                  nvidia.com/gpu: 1\n                requests:",
            "                  habana.ai/gaudi: 1\n                requests:",
        ),
        (
            "                  nvidia.com/gpu: 1\n    - groupName",
            "                  habana.ai/gaudi: 1\n    - groupName",
        ),
    )
    shutil.copy(MANIFESTS / "serve-config.yaml", tmp_path)
    shutil.copy(MANIFESTS / "expectations.yaml", tmp_path)
    pool = tmp_path / "nodes"
    pool.mkdir()
    (pool / "pool.yaml").write_text(
        (MANIFESTS / "nodes" / "gpu-pool.yaml").read_text().replace('nvidia.com/gpu: "1"', 'habana.ai/gaudi: "8"')
    )
    result = run_check([tmp_path])
    [plan] = result.plans
    gaudi = next(n for n in plan.ray_nodes if n.group.label == "gpu-workers")
    assert gaudi.resources.get("HPU") == 1.0 and "GPU" not in gaudi.resources
    assert "SERVE-UNPLACEABLE" in rules(result, ERROR)
    [no_gpu] = [f for f in result.findings if f.rule == "GPU-GROUP-NO-GPU"]
    assert "habana.ai/gaudi: 1" in no_gpu.message and "not count as GPU" in no_gpu.message
    assert cluster.exists()


def test_a_mig_group_is_not_called_gpu_less(tmp_path: Path) -> None:
    """A group holding a MIG slice gets --num-gpus from KubeRay and no GPU-GROUP-NO-GPU; the pool finding names the slices."""
    case = MANIFESTS / "regressions" / "nodepool-mig-only.yaml"
    result = run_check([case])
    assert rules(result, ERROR) == {"NODEPOOL-NO-GPU"}
    [pool] = [f for f in result.findings if f.rule == "NODEPOOL-NO-GPU"]
    assert "nvidia.com/mig-1g.10gb: 7" in pool.message
    assert not any("no GPU" in f.message for f in result.findings)
    fixed = copy_of(
        tmp_path,
        case,
        ("  gpuResource: nvidia.com/gpu\n", "  gpuResources: [nvidia.com/gpu, nvidia.com/mig-1g.10gb]\n"),
    )
    assert run_check([fixed]).verdict == "pass"


# --- 3. accelerator types -------------------------------------------------------------------


def test_gfd_product_gives_rays_own_type() -> None:
    """The GFD label, turned back into the NVML name, gives what Ray's own function gives."""
    from ray._private.accelerators.nvidia_gpu import NvidiaGPUAcceleratorManager

    for nvml in (
        "NVIDIA L4",
        "NVIDIA A100-SXM4-80GB",
        "Tesla V100-SXM2-16GB",
        "NVIDIA GeForce RTX 4090",
        "NVIDIA H100 80GB HBM3",
    ):
        want = NvidiaGPUAcceleratorManager._gpu_name_to_accelerator_type(nvml)
        gfd = nvml.replace(" ", "-")
        assert ray_type_from_gfd_product(gfd) == ray_type_from_gfd_product(gfd + "-SHARED") == want
        assert ray_type_from_gfd_product(gfd + "-MIG-1g.10gb") == want


def _l4_case(tmp_path: Path, ask: str, labels: bool = True) -> CheckResult:
    serve = copy_of(
        tmp_path, MANIFESTS / "serve-config.yaml", ("          num_gpus: 1\n", f"          num_gpus: 1\n{ask}")
    )
    shutil.copy(MANIFESTS / "raycluster.yaml", tmp_path)
    shutil.copy(MANIFESTS / "expectations.yaml", tmp_path)
    (tmp_path / "nodes").mkdir()
    pool = POOL.read_text()
    if not labels:
        pool = pool.replace("        nvidia.com/gpu.product: NVIDIA-L4\n", "")
    (tmp_path / "nodes" / "pool.yaml").write_text(pool)
    assert serve.exists()
    return run_check([tmp_path])


@pytest.mark.parametrize(
    "ask", ["          accelerator_type: L4\n", "          label_selector:\n            ray.io/accelerator-type: L4\n"]
)
def test_an_l4_ask_is_placeable_on_an_l4_pool(tmp_path: Path, ask: str) -> None:
    """accelerator_type: L4 and label_selector ray.io/accelerator-type: L4 fit the L4 node (was a false SERVE-UNPLACEABLE)."""
    result = _l4_case(tmp_path, ask)
    assert "SERVE-UNPLACEABLE" not in rules(result)
    [plan] = result.plans
    [d] = plan.deployments
    assert [plan.ray_node(n).k8s_node for n in d.feasible] == ["gpu-l4-1"]


def test_an_ask_where_the_pool_hides_the_model_is_unknown(tmp_path: Path) -> None:
    """Without GFD's product label the model is unknown: unchecked, never unplaceable."""
    result = _l4_case(tmp_path, "          accelerator_type: L4\n", labels=False)
    [f] = [f for f in result.findings if f.rule == "SERVE-UNPLACEABLE"]
    assert f.severity == UNCHECKED and "unknown: the pool does not show the GPU model" in f.message
    assert result.verdict == "unchecked"


# --- 4. shared GPUs -------------------------------------------------------------------------

SHARED_CASE = MANIFESTS / "regressions" / "whole-gpu-replica-on-time-slice.yaml"


def test_a_renamed_share_gets_rays_autodetected_count(tmp_path: Path) -> None:
    """nvidia.com/gpu.shared: KubeRay adds no --num-gpus, Ray counts the one device the container sees."""
    case = copy_of(
        tmp_path,
        SHARED_CASE,
        (
            '    nvidia.com/gpu: "4"\n  allocatable:\n    cpu: "16"\n    memory: 64Gi\n    pods: "110"\n    nvidia.com/gpu: "4"\n',
            '    nvidia.com/gpu.shared: "4"\n  allocatable:\n    cpu: "16"\n    memory: 64Gi\n    pods: "110"\n    nvidia.com/gpu.shared: "4"\n',
        ),
        ("nvidia.com/gpu.product: NVIDIA-L4-SHARED", "nvidia.com/gpu.product: NVIDIA-L4"),
    )
    text = case.read_text().replace("nvidia.com/gpu: 1\n", "nvidia.com/gpu.shared: 1\n")
    case.write_text(text)
    result = run_check([case])
    [plan] = result.plans
    node = next(n for n in plan.ray_nodes if n.group.label == "gpu-workers")
    assert node.group.start.options.get("num-gpus") is None
    assert node.resources["GPU"] == 1.0 and node.k8s_node == "gpu-shared-1"
    assert "SHARED-GPU" in rules(result, WARNING)


@pytest.mark.parametrize(("mode", "severity"), [("allow", None), ("warn", WARNING), ("fail", ERROR)])
def test_shared_gpus_severity_comes_from_the_expectations(tmp_path: Path, mode: str, severity: str | None) -> None:
    """sharedGpus: allow | warn | fail sets SHARED-GPU's severity."""
    case = copy_of(tmp_path, SHARED_CASE)
    exp = (MANIFESTS / "expectations.yaml").read_text() + f"sharedGpus: {mode}\n"
    case.write_text(case.read_text() + "---\n" + exp)
    found = [f.severity for f in run_check([case]).findings if f.rule == "SHARED-GPU"]
    assert found == ([severity] if severity else [])


def test_whole_gpus_on_unshared_nodes_pass(tmp_path: Path) -> None:
    """The same case pinned to the unshared L4: nothing to say."""
    case = copy_of(
        tmp_path,
        SHARED_CASE,
        (
            '            gpu-node: "true"\n',
            '            gpu-node: "true"\n            nvidia.com/gpu.sharing-strategy: "none"\n',
        ),
    )
    assert run_check([case]).findings == []


@pytest.mark.parametrize(("count", "fires"), [("1", True), ("2", False)])
def test_two_time_slices_are_a_finding_only_where_they_can_be_one_gpu(tmp_path: Path, count: str, fires: bool) -> None:
    """Two time-slices on a node with one GPU are one device behind --num-gpus=2; with two GPUs the plugin spreads them."""
    case = copy_of(
        tmp_path,
        MANIFESTS / "regressions" / "two-mps-shares-per-pod.yaml",
        ("nvidia.com/gpu.sharing-strategy: mps", "nvidia.com/gpu.sharing-strategy: time-slicing"),
        ('    nvidia.com/gpu.count: "1"\n', f'    nvidia.com/gpu.count: "{count}"\n'),
    )
    found = [f for f in run_check([case]).findings if f.rule == "SHARED-GPU-REQUEST"]
    assert bool(found) == fires
    if fires:
        assert "--num-gpus=2" in found[0].message


# --- 5. DRA ---------------------------------------------------------------------------------


def test_a_dra_group_with_num_gpus_passes() -> None:
    """Two H100s from a claim: scheduled on the DRA node, Ray GPU 2 and type H100, no false GPU findings."""
    result = run_check([DRA], [POOL])
    assert result.findings == [] and result.verdict == "pass"
    [plan] = result.plans
    worker = next(n for n in plan.ray_nodes if n.group.label == "h100-workers")
    assert worker.k8s_node == "dra-h100-1" and worker.resources["GPU"] == 2.0
    assert worker.labels["ray.io/accelerator-type"] == "H100"


def test_a_dra_group_without_num_gpus_is_blind_to_the_autoscaler(tmp_path: Path) -> None:
    """Without num-gpus the autoscaler counts 0 GPUs: AUTOSCALER-DRA-GPUS, fixed by num-gpus "2"; without autoscaling, no finding."""
    blind = copy_of(tmp_path, DRA, ('      rayStartParams:\n        num-gpus: "2"\n', "      rayStartParams: {}\n"))
    result = run_check([blind], [POOL])
    assert rules(result, ERROR) == {"AUTOSCALER-DRA-GPUS"}
    [f] = result.findings
    assert f.evidence["gpus"] == 2 and 'num-gpus: "2"' in f.fix
    fixed = copy_of(tmp_path / "..", blind, ("  enableInTreeAutoscaling: true\n", "  enableInTreeAutoscaling: false\n"))
    assert run_check([fixed], [POOL]).findings == []


def test_a_claim_no_node_can_serve_stays_pending(tmp_path: Path) -> None:
    """Three H100s per pod: the scheduler's DynamicResources plugin finds no node (cannot allocate all claims)."""
    greedy = copy_of(tmp_path, DRA, ("            count: 2\n", "            count: 3\n"))
    result = run_check([greedy], [POOL])
    [pending] = [f for f in result.findings if f.rule == "POD-UNSCHEDULABLE"]
    assert "cannot allocate all claims" in pending.message


def test_allocation_mode_all_is_decided_at_allocation(tmp_path: Path) -> None:
    """allocationMode All: every matching device of the node, said as decided at allocation."""
    every = copy_of(
        tmp_path,
        DRA,
        ("            allocationMode: ExactCount\n            count: 2\n", "            allocationMode: All\n"),
    )
    [plan] = run_check([every], [POOL]).plans
    pod = next(p for p in plan.pods if p.group.label == "h100-workers")
    assert pod.dra is not None and len(pod.dra.devices) == 2
    assert any("decided at allocation" in n for n in pod.dra.notes)


def test_an_extended_resource_served_by_a_device_class(tmp_path: Path) -> None:
    """KEP-5004: nvidia.com/gpu in the limits, no device plugin on the node, a DeviceClass with extendedResourceName serves it."""
    pool = tmp_path / "pool.yaml"
    pool.write_text(
        POOL.read_text().replace(
            "    spec:\n      selectors:\n        - cel:\n            expression: device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'\n",
            "    spec:\n      extendedResourceName: example.com/gpu\n      selectors:\n        - cel:\n            expression: device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'\n",
        )
    )
    cluster = copy_of(
        tmp_path,
        DRA,
        (
            '                limits: {cpu: "8", memory: 64Gi}\n',
            '                limits: {cpu: "8", memory: 64Gi, example.com/gpu: 2}\n',
        ),
    )
    text = (
        cluster.read_text()
        .replace("                claims:\n                  - name: gpus\n", "")
        .replace(
            "          resourceClaims:\n            - name: gpus\n              resourceClaimTemplateName: two-h100\n",
            "",
        )
    )
    cluster.write_text(text)
    result = run_check([cluster], [pool])
    [plan] = result.plans
    pod = next(p for p in plan.pods if p.group.label == "h100-workers")
    assert pod.node == "dra-h100-1" and pod.dra is not None and len(pod.dra.devices) == 2
    assert "POD-UNSCHEDULABLE" not in rules(result)


# --- 6. batch and gang schedulers -----------------------------------------------------------


def test_a_volcano_gang_that_fits_binds_every_pod(tmp_path: Path) -> None:
    """The gang case with the replicas the pool holds: Volcano binds them all, nothing to say."""
    case = copy_of(
        tmp_path,
        MANIFESTS / "regressions" / "gang-gpu-workers-beyond-pool.yaml",
        (
            "      replicas: 2\n      minReplicas: 2\n      maxReplicas: 2\n",
            "      replicas: 1\n      minReplicas: 1\n      maxReplicas: 2\n",
        ),
    )
    result = run_check([case])
    assert result.findings == [] and all(p.node for p in result.plans[0].pods if not p.autoscaled)


def test_a_gang_that_does_not_fit_starts_no_pod() -> None:
    """One GPU worker too many: every pod of the cluster is Pending, the head included, and the plan says why."""
    result = run_check([MANIFESTS / "regressions" / "gang-gpu-workers-beyond-pool.yaml"])
    [plan] = result.plans
    assert all(p.node is None for p in plan.pods) and plan.ray_nodes == []
    head = next(p for p in plan.pods if p.group.is_head)
    assert "held by volcano's gang" in head.pending_message
    [gang] = [f for f in result.findings if f.rule == "GANG-UNPLACEABLE"]
    assert gang.evidence["unfit"] == ["ml-cluster-gpu-workers-worker-1"]


@pytest.mark.parametrize(("label", "severity"), [("", ERROR), ("    kai.scheduler/queue: team-a\n", None)])
def test_kai_needs_its_queue_label(tmp_path: Path, label: str, severity: str | None) -> None:
    """KAI without kai.scheduler/queue: the pods stay Pending (an error); with it they are placed."""
    case = copy_of(
        tmp_path,
        MANIFESTS / "regressions" / "kai-cluster-without-queue.yaml",
        ("    app.kubernetes.io/name: ml-service\n", "    app.kubernetes.io/name: ml-service\n" + label),
    )
    result = run_check([case])
    found = [f.severity for f in result.findings if f.rule == "GANG-QUEUE"]
    assert found == ([severity] if severity else [])
    assert all(p.node for p in result.plans[0].pods) == (severity is None)


def test_a_missing_volcano_queue_is_a_warning(tmp_path: Path) -> None:
    """Volcano without its queue label: the default queue, a warning (declared in the expectations)."""
    case = copy_of(
        tmp_path,
        MANIFESTS / "regressions" / "kai-cluster-without-queue.yaml",
        ("  name: kai-scheduler\n  queue: team-a\n", "  name: volcano\n"),
    )
    [f] = [f for f in run_check([case]).findings if f.rule == "GANG-QUEUE"]
    assert f.severity == WARNING and "volcano.sh/queue-name" in f.message


def test_a_kai_fractional_gpu_group_is_not_gpu_less(tmp_path: Path) -> None:
    """KAI's gpu-fraction annotation without a GPU limit: Ray counts one (shared) GPU, no GPU-GROUP-NO-GPU."""
    case = copy_of(
        tmp_path,
        MANIFESTS / "regressions" / "kai-cluster-without-queue.yaml",
        (
            "    app.kubernetes.io/name: ml-service\n",
            "    app.kubernetes.io/name: ml-service\n    kai.scheduler/queue: team-a\n",
        ),
    )
    text = case.read_text()
    assert text.count("                  nvidia.com/gpu: 1\n") == 2
    text = text.replace("                  nvidia.com/gpu: 1\n", "").replace(
        '      template:\n        spec:\n          nodeSelector:\n            gpu-node: "true"\n',
        '      template:\n        metadata:\n          annotations:\n            gpu-fraction: "0.5"\n        spec:\n          nodeSelector:\n            gpu-node: "true"\n',
        1,
    )
    case.write_text(text)
    result = run_check([case])
    assert "GPU-GROUP-NO-GPU" not in rules(result)
    [plan] = result.plans
    worker = next(n for n in plan.ray_nodes if n.group.label == "gpu-workers")
    assert worker.resources["GPU"] == 1.0
    assert "SHARED-GPU" in rules(result, WARNING)


# --- 7. ray.serve.llm -----------------------------------------------------------------------

LLM_APP = """applications:
  - name: llm_app
    import_path: ray.serve.llm:build_openai_app
    route_prefix: /
    args:
      llm_configs:
        - model_loading_config: {{model_id: deepseek, model_source: deepseek-ai/DeepSeek-R1}}
          accelerator_type: H100
          deployment_config:
            autoscaling_config: {{min_replicas: 1, max_replicas: 1}}
          engine_kwargs: {{tensor_parallel_size: 8, pipeline_parallel_size: 2}}{pg}
"""


def _h100_pool(tmp_path: Path, nodes: int) -> Path:
    items = []
    for i in range(nodes):
        items.append(
            f"""  - apiVersion: v1
    kind: Node
    metadata:
      name: h100-{i}
      labels: {{gpu-node: "true", nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3, nvidia.com/gpu.count: "8"}}
    spec:
      taints: [{{key: nvidia.com/gpu, value: present, effect: NoSchedule}}]
    status:
      allocatable: {{cpu: "200", memory: 1800Gi, pods: "110", nvidia.com/gpu: "8"}}
"""
        )
    cpu = '  - {apiVersion: v1, kind: Node, metadata: {name: cpu-0}, status: {allocatable: {cpu: "16", memory: 64Gi, pods: "110"}}}\n'
    pool = tmp_path / "pool.yaml"
    pool.write_text("apiVersion: v1\nkind: List\nitems:\n" + cpu + "".join(items))
    return pool


def _llm_cluster(tmp_path: Path, pg: str) -> Path:
    cluster = f"""apiVersion: ray.io/v1
kind: RayCluster
metadata: {{name: llm}}
spec:
  headGroupSpec:
    rayStartParams: {{num-gpus: "0"}}
    template: {{spec: {{containers: [{{name: h, image: rayproject/ray-llm:2.60.0, resources: {{limits: {{cpu: "8", memory: 32Gi}}}}}}]}}}}
  workerGroupSpecs:
    - groupName: gpu
      replicas: 2
      minReplicas: 2
      maxReplicas: 2
      rayStartParams: {{}}
      template:
        spec:
          tolerations: [{{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}}]
          containers: [{{name: w, image: rayproject/ray-llm:2.60.0, resources: {{limits: {{cpu: "100", memory: 1000Gi, nvidia.com/gpu: 8}}}}}}]
---
{LLM_APP.format(pg=pg)}"""
    path = tmp_path / "llm.yaml"
    path.write_text(cluster)
    return path


def test_an_llm_app_is_modelled_from_its_llm_configs(tmp_path: Path) -> None:
    """TP 8 x PP 2 on two 8-GPU H100 nodes: 16 GPUs per replica, PACK spreads them over both nodes."""
    result = run_check([_llm_cluster(tmp_path, "")], [_h100_pool(tmp_path, 2)])
    assert "SERVE-APP-UNSEEN" not in rules(result) and result.verdict == "pass", [f.message for f in result.findings]
    assert rules(result) <= {"ISOLATION-ZERO-GPU"}  # the ingress (num_gpus 0) may land on a GPU worker
    [plan] = result.plans
    llm = next(d for d in plan.deployments if d.demand.deployment == "LLMServer:deepseek")
    assert llm.demand.num_gpus == 16 and llm.demand.resources["accelerator_type:H100"] == 0.001
    assert len(llm.placed) == 1
    assert {d.demand.deployment for d in plan.deployments} == {"LLMServer:deepseek", "OpenAiIngress"}


def test_an_llm_replica_strictly_packed_beyond_one_node_is_short_of_gpus(tmp_path: Path) -> None:
    """STRICT_PACK keeps the 16 bundles on one 8-GPU node: the replica never starts."""
    pg = "\n          placement_group_config: {bundles: [" + ", ".join(["{GPU: 1}"] * 16) + "], strategy: STRICT_PACK}"
    result = run_check([_llm_cluster(tmp_path, pg)], [_h100_pool(tmp_path, 2)])
    [capacity] = [f for f in result.findings if f.rule == "GPU-CAPACITY"]
    assert "room for 0" in capacity.message
