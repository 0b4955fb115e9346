"""Unit tests of gpuconf.static.rules over edited copies of the shipped manifests (beyond the regression cases)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gpuconf.errors import Loc
from gpuconf.model.plan import Plan, RayNodePlan
from gpuconf.static.check import CheckResult, run_check
from gpuconf.static.rules import CATALOGUE, ERROR, WARNING, Finding

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
CLUSTER = "RayCluster/ml-cluster"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The shipped RayCluster, Serve config, expectations and node pool, copied (no RayService, no regressions)."""
    for name in ("raycluster.yaml", "serve-config.yaml", "expectations.yaml"):
        shutil.copy(MANIFESTS / name, tmp_path / name)
    shutil.copytree(MANIFESTS / "nodes", tmp_path / "nodes")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact, unique piece of text in a file."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} must occur once in {path.name}"
    path.write_text(text.replace(old, new))


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the only line containing `needle`."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits} of {path.name}"
    return hits[0]


def check(folder: Path) -> CheckResult:
    """run_check from inside the folder, so locations are the plain file names."""
    return run_check([folder])


def findings(result: CheckResult, rule: str) -> list[Finding]:
    """The findings of one rule."""
    return [f for f in result.findings if f.rule == rule]


def plan_of(result: CheckResult) -> Plan:
    """The one plan (the RayCluster target)."""
    [plan] = result.plans
    assert plan.target.name == CLUSTER
    return plan


def ray_node_of_group(plan: Plan, group: str) -> RayNodePlan:
    """The Ray node of the single pod of a group."""
    [node] = [n for n in plan.ray_nodes if n.group.label == group]
    return node


def at(path: Path, line: int) -> Loc:
    """The Loc a finding reports for a line of an edited file (run_check names files as given)."""
    return Loc(str(path), line)


def test_shipped_copy_passes_clean(copy: Path) -> None:
    """Baseline: the unedited copy has no findings and the expected placement."""
    result = check(copy)
    assert result.verdict == "pass"
    assert result.findings == []
    plan = plan_of(result)
    assert {p.name: p.node for p in plan.pods} == {
        "ml-cluster-head": "cpu-node-1",
        "ml-cluster-gpu-workers-worker-0": "gpu-node-1",
        "ml-cluster-cpu-workers-worker-0": "cpu-node-1",
    }
    assert plan.deployments[0].feasible == ["ml-cluster-gpu-workers-worker-0"]


def test_catalogue_ids_are_unique_and_stable() -> None:
    """Every rule has one id; the ones the suites name exist."""
    ids = [r.id for r in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert {"SHELL-SPLIT", "GPU-PLACEMENT", "HEAD-GPU", "ISOLATION-ZERO-GPU", "GPU-CAPACITY"} <= set(ids)
    assert {r.id: r.severity for r in CATALOGUE}["ISOLATION-ZERO-GPU"] == WARNING


# --- GPU-PLACEMENT ---------------------------------------------------------------------------------


def test_gpu_placement_label_selector_matching_a_cpu_node(copy: Path) -> None:
    """MLService pinned by a label_selector that also matches the CPU group (which claims a GPU)."""
    serve, cluster = copy / "serve-config.yaml", copy / "raycluster.yaml"
    edit(
        serve,
        "          resources:\n            gpu_worker: 0.001\n",
        '          label_selector:\n            ray.io/node-group: "in(gpu-workers,cpu-workers)"\n',
    )
    edit(
        cluster,
        """        resources: "'{\\"cpu_worker\\": 1}'"\n""",
        """        resources: "'{\\"cpu_worker\\": 1}'"\n        num-gpus: "1"\n""",
    )
    result = check(copy)
    [f] = findings(result, "GPU-PLACEMENT")
    assert f.severity == ERROR
    assert f.loc == at(serve, line_of(serve, "ray_actor_options:"))
    assert "ml-cluster-cpu-workers-worker-0 on cpu-node-1" in f.message
    assert f.evidence["off_gpu"] == ["ml-cluster-cpu-workers-worker-0"]
    assert result.verdict == "fail"
    assert sorted(plan_of(result).deployments[0].feasible) == [
        "ml-cluster-cpu-workers-worker-0",
        "ml-cluster-gpu-workers-worker-0",
    ]


def test_gpu_placement_label_selector_on_the_gpu_group_passes(copy: Path) -> None:
    """The same label_selector narrowed to the GPU group: no finding at all."""
    serve = copy / "serve-config.yaml"
    edit(
        serve,
        "          resources:\n            gpu_worker: 0.001\n",
        "          label_selector:\n            ray.io/node-group: gpu-workers\n",
    )
    result = check(copy)
    assert result.findings == []
    assert plan_of(result).deployments[0].feasible == ["ml-cluster-gpu-workers-worker-0"]


def test_gpu_placement_label_selector_negation_is_too_loose(copy: Path) -> None:
    """`!headgroup` with a GPU-claiming CPU group: still lands off GPU nodes."""
    serve, cluster = copy / "serve-config.yaml", copy / "raycluster.yaml"
    edit(
        serve,
        "          resources:\n            gpu_worker: 0.001\n",
        '          label_selector:\n            ray.io/node-group: "!headgroup"\n',
    )
    edit(
        cluster,
        """        resources: "'{\\"cpu_worker\\": 1}'"\n""",
        """        resources: "'{\\"cpu_worker\\": 1}'"\n        num-gpus: "1"\n""",
    )
    assert [f.rule for f in check(copy).findings] == ["GPU-PLACEMENT"]


# --- ISOLATION-ZERO-GPU ----------------------------------------------------------------------------

SIDECAR = """\
  - name: sidecar
    import_path: entrypoints.ml_entrypoint:build_noop_service
    route_prefix: /sidecar
    deployments:
      - name: NoopService
        num_replicas: 1
        ray_actor_options:
          num_cpus: 0.1
"""


def test_isolation_zero_gpu_warns_by_default(copy: Path) -> None:
    """An unpinned zero-GPU deployment can land on the GPU worker: a warning, and the verdict stays pass."""
    serve = copy / "serve-config.yaml"
    serve.write_text(serve.read_text() + SIDECAR)
    result = check(copy)
    [f] = findings(result, "ISOLATION-ZERO-GPU")
    assert f.severity == WARNING
    assert f.loc == at(serve, line_of(serve, "num_cpus: 0.1") - 1)
    assert "sidecar/NoopService" in f.message
    assert f.evidence["gpu_nodes"] == ["ml-cluster-gpu-workers-worker-0"]
    assert result.verdict == "pass"
    assert [x.rule for x in result.findings] == ["ISOLATION-ZERO-GPU"]


def test_isolation_zero_gpu_is_an_error_when_expectations_say_fail(copy: Path) -> None:
    """`zeroGpuOnGpuNode: fail` turns the same finding into an error."""
    serve, expect = copy / "serve-config.yaml", copy / "expectations.yaml"
    serve.write_text(serve.read_text() + SIDECAR)
    edit(expect, "zeroGpuOnGpuNode: warn", "zeroGpuOnGpuNode: fail")
    result = check(copy)
    [f] = findings(result, "ISOLATION-ZERO-GPU")
    assert f.severity == ERROR
    assert result.verdict == "fail"


def test_isolation_zero_gpu_label_selector_pin_to_gpu_group(copy: Path) -> None:
    """A zero-GPU deployment pinned to the GPU group by label_selector: the finding names its options line."""
    serve = copy / "serve-config.yaml"
    serve.write_text(serve.read_text() + SIDECAR + "          label_selector: {ray.io/node-group: gpu-workers}\n")
    result = check(copy)
    [f] = findings(result, "ISOLATION-ZERO-GPU")
    assert f.loc == at(serve, line_of(serve, "num_cpus: 0.1") - 1)
    assert f.evidence["gpu_nodes"] == ["ml-cluster-gpu-workers-worker-0"]


def test_isolation_zero_gpu_not_fired_when_pinned_to_cpu_workers(copy: Path) -> None:
    """Pinned to the CPU group by its marker resource: no finding."""
    serve = copy / "serve-config.yaml"
    serve.write_text(serve.read_text() + SIDECAR + "          resources: {cpu_worker: 0.001}\n")
    result = check(copy)
    assert result.findings == []
    sidecar = next(d for d in plan_of(result).deployments if d.demand.app == "sidecar")
    assert sidecar.feasible == ["ml-cluster-cpu-workers-worker-0"]


# --- HEAD-GPU --------------------------------------------------------------------------------------


def test_head_gpu_via_a_gpu_limit(copy: Path) -> None:
    """A head container with an nvidia.com/gpu limit advertises a GPU; the finding points at its resources."""
    cluster = copy / "raycluster.yaml"
    edit(
        cluster,
        """            image: rayproject/ray:2.60.0-py311
            resources:
              limits:
                cpu: "2"
                memory: 4Gi
              requests:
                cpu: "2"
                memory: 4Gi
  workerGroupSpecs:""",
        """            image: rayproject/ray:2.60.0-py311
            resources:
              limits:
                cpu: "2"
                memory: 4Gi
                nvidia.com/gpu: 1
              requests:
                cpu: "2"
                memory: 4Gi
  workerGroupSpecs:""",
    )
    result = check(copy)
    [f] = findings(result, "HEAD-GPU")
    assert f.severity == ERROR
    lines = cluster.read_text().splitlines()
    head_resources = next(i for i, line in enumerate(lines, 1) if line.strip() == "resources:")
    assert f.loc == at(cluster, head_resources)
    assert f.evidence == {"num_gpus": 1.0, "gpu_limit": 1.0}
    assert "--num-gpus=1 " in plan_of(result).groups[0].command
    # The head does not tolerate the GPU taint, and the CPU node has no GPU: it stays Pending too.
    [pending] = findings(result, "POD-UNSCHEDULABLE")
    assert "ml-cluster-head" in pending.message


def test_head_gpu_explicit_zero_passes(copy: Path) -> None:
    """The fix the finding suggests: num-gpus "0" on the head (and no limit) keeps HEAD-GPU quiet."""
    cluster = copy / "raycluster.yaml"
    edit(
        cluster,
        """      resources: "'{\\"head_node\\": 1}'"\n""",
        """      resources: "'{\\"head_node\\": 1}'"\n      num-gpus: "0"\n""",
    )
    result = check(copy)
    assert findings(result, "HEAD-GPU") == []
    assert plan_of(result).groups[0].start.options["num-gpus"] == "0"


# --- NVIDIA_VISIBLE_DEVICES=all --------------------------------------------------------------------

TOLERATION = """\
          tolerations:
            - key: nvidia.com/gpu
              operator: Exists
              effect: NoSchedule
          containers:
            - name: ray-worker
              image: rayproject/ray:2.60.0-py311
"""


def _cpu_group_on_gpu_node(cluster: Path, env: bool) -> None:
    """Let the CPU group tolerate the GPU taint (it then lands on the emptier GPU node), optionally leaking GPUs."""
    text = cluster.read_text()
    start = text.index("- groupName: cpu-workers")
    head, tail = text[:start], text[start:]
    container = (
        "          containers:\n            - name: ray-worker\n              image: rayproject/ray:2.60.0-py311\n"
    )
    leak = "              env:\n                - name: NVIDIA_VISIBLE_DEVICES\n                  value: all\n"
    cluster.write_text(head + tail.replace(container, TOLERATION + (leak if env else ""), 1))


def test_nvidia_visible_devices_all_leaks_the_node_gpus(copy: Path) -> None:
    """A CPU pod on the GPU node with NVIDIA_VISIBLE_DEVICES=all: its Ray node advertises the node's GPU."""
    cluster = copy / "raycluster.yaml"
    _cpu_group_on_gpu_node(cluster, env=True)
    result = check(copy)
    node = ray_node_of_group(plan_of(result), "cpu-workers")
    assert node.k8s_node == "gpu-node-1"
    assert node.is_gpu_node
    assert node.resources["GPU"] == 1.0
    assert any("NVIDIA_VISIBLE_DEVICES=all" in a for a in node.autodetected)
    assert node.group.env == {"NVIDIA_VISIBLE_DEVICES": "all"}
    [leak] = findings(result, "GPU-LEAK-ENV")
    assert leak.severity == ERROR
    assert leak.loc == at(cluster, line_of(cluster, "env:"))
    assert leak.evidence["gpu_nodes"] == ["gpu-node-1"]


def test_without_the_env_the_cpu_pod_sees_no_gpu(copy: Path) -> None:
    """Same placement without the env: GPU 0 (the device plugin gave the container none)."""
    cluster = copy / "raycluster.yaml"
    _cpu_group_on_gpu_node(cluster, env=False)
    result = check(copy)
    node = ray_node_of_group(plan_of(result), "cpu-workers")
    assert node.k8s_node == "gpu-node-1"
    assert "GPU" not in node.resources
    assert any("sees the 0 device(s) of its limit" in a for a in node.autodetected)
    assert result.findings == []


def test_leaked_gpu_makes_zero_gpu_work_an_isolation_finding(copy: Path) -> None:
    """With the leak, a deployment pinned to the CPU group is on a GPU node: ISOLATION-ZERO-GPU warns."""
    cluster, serve = copy / "raycluster.yaml", copy / "serve-config.yaml"
    _cpu_group_on_gpu_node(cluster, env=True)
    serve.write_text(serve.read_text() + SIDECAR + "          resources: {cpu_worker: 0.001}\n")
    result = check(copy)
    [f] = findings(result, "ISOLATION-ZERO-GPU")
    assert f.severity == WARNING
    assert f.evidence["gpu_nodes"] == ["ml-cluster-cpu-workers-worker-0"]
    assert f.loc == at(serve, line_of(serve, "num_cpus: 0.1") - 1)


# --- locations in other files ----------------------------------------------------------------------


def test_shell_split_points_at_the_edited_param(copy: Path) -> None:
    """The seed's unescaped form on the CPU group: SHELL-SPLIT names that line, not the GPU group's."""
    cluster = copy / "raycluster.yaml"
    edit(
        cluster,
        """        resources: "'{\\"cpu_worker\\": 1}'"\n""",
        """        resources: "{\\"cpu_worker\\": 1}"\n""",
    )
    result = check(copy)
    [f] = findings(result, "SHELL-SPLIT")
    assert f.loc == at(cluster, line_of(cluster, 'resources: "{\\"cpu_worker\\": 1}"'))
    assert "group cpu-workers" in f.message
    assert f.evidence["argv"] == ["--resources={cpu_worker:", "1}"]


# --- GPU resources beyond nvidia.com/gpu: KubeRay's predicate (MIG slices, other vendors) -----------


def _vendor_pool(copy: Path, resource: str, amount: str = "1", keep_gpu_resource: bool = False) -> None:
    """The copy with its GPU node and GPU group on `resource` instead of nvidia.com/gpu."""
    nodes = copy / "nodes" / "gpu-pool.yaml"
    nodes.write_text(nodes.read_text().replace('nvidia.com/gpu: "1"', f'{resource}: "{amount}"'))
    cluster = copy / "raycluster.yaml"
    cluster.write_text(cluster.read_text().replace("nvidia.com/gpu: 1", f"{resource}: 1"))
    if not keep_gpu_resource:
        edit(copy / "expectations.yaml", "  gpuResource: nvidia.com/gpu\n", "")


@pytest.mark.parametrize("resource", ["amd.com/gpu", "nvidia.com/mig-1g.10gb"])
def test_other_gpu_resources_make_gpu_nodes_and_gpu_ray_nodes(copy: Path, resource: str) -> None:
    """An AMD node, and a MIG-only node, are GPU nodes; KubeRay gives the group --num-gpus from the limit."""
    _vendor_pool(copy, resource, "7" if "mig" in resource else "1")
    result = check(copy)
    assert result.verdict == "pass", [f.message for f in result.findings]
    assert result.findings == []
    plan = plan_of(result)
    gpu = ray_node_of_group(plan, "gpu-workers")
    assert (gpu.k8s_node, gpu.is_gpu_node, gpu.resources["GPU"]) == ("gpu-node-1", True, 1.0)
    assert "--num-gpus=1" in gpu.group.command
    assert plan.expectations.gpu_resource == resource  # what fixes and messages name


def test_a_mig_only_pool_without_gpu_limit_is_gpu_group_no_gpu(copy: Path) -> None:
    """Regression: the GPU group pinned to a MIG node but with no limit at all still trips GPU-GROUP-NO-GPU."""
    _vendor_pool(copy, "nvidia.com/mig-1g.10gb", "7")
    cluster = copy / "raycluster.yaml"
    cluster.write_text("".join(ln for ln in cluster.read_text().splitlines(True) if "mig-1g.10gb: 1" not in ln))
    result = check(copy)
    [f] = findings(result, "GPU-GROUP-NO-GPU")
    assert "nvidia.com/mig-1g.10gb: 1" in f.fix


def test_expectations_naming_one_resource_exclude_other_vendors(copy: Path) -> None:
    """gpuResource: nvidia.com/gpu says otherwise: an AMD-only pool is then NODEPOOL-NO-GPU."""
    _vendor_pool(copy, "amd.com/gpu", keep_gpu_resource=True)
    result = check(copy)
    [f] = findings(result, "NODEPOOL-NO-GPU")
    assert "allocatable nvidia.com/gpu" in f.message
    assert result.verdict == "fail"


def test_gpu_resources_list_accepts_several_vendors(copy: Path) -> None:
    """gpuNodes.gpuResources lists several names; an AMD pool passes with [nvidia.com/gpu, amd.com/gpu]."""
    _vendor_pool(copy, "amd.com/gpu", keep_gpu_resource=True)
    edit(copy / "expectations.yaml", "gpuResource: nvidia.com/gpu", "gpuResources: [nvidia.com/gpu, amd.com/gpu]")
    result = check(copy)
    assert result.verdict == "pass", [f.message for f in result.findings]
    assert plan_of(result).expectations.gpu_resources == frozenset({"nvidia.com/gpu", "amd.com/gpu"})


def test_both_gpu_resource_keys_are_bad_input(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """gpuResource and gpuResources together: exit 2 at the line, not a silent pick."""
    from gpuconf.cli import main

    edit(
        copy / "expectations.yaml",
        "gpuResource: nvidia.com/gpu",
        "gpuResource: nvidia.com/gpu\n  gpuResources: [amd.com/gpu]",
    )
    assert main(["check", str(copy)]) == 2
    err = capsys.readouterr()
    assert "expectations.yaml:11" in err.out + err.err and "keep one" in err.out + err.err


def test_an_intel_gpu_node_is_a_gpu_node_but_ray_counts_no_gpu(copy: Path) -> None:
    """gpu.intel.com/i915 makes a GPU node; KubeRay adds no --num-gpus and Ray (without dpctl) counts 0."""
    _vendor_pool(copy, "gpu.intel.com/i915")
    result = check(copy)
    plan = plan_of(result)
    gpu = ray_node_of_group(plan, "gpu-workers")
    assert gpu.is_gpu_node and "--num-gpus" not in gpu.group.command
    assert "GPU" not in gpu.resources
    assert any("dpctl" in a for a in gpu.autodetected)
    assert not findings(result, "NODEPOOL-NO-GPU")
    [f] = findings(result, "SERVE-UNPLACEABLE")  # num_gpus: 1 finds no Ray GPU: a true fail
    assert "GPU: needs 1" in f.message


# --- GPU-LEAK-ENV from the image's own env (gpuconf.inputs.images) ----------------------------------


def _cpu_group_on_gpu_node_with(copy: Path, image: str) -> Path:
    """The copy with its CPU workers able to land on the GPU node (tolerating its taint) and running `image`."""
    cluster = copy / "raycluster.yaml"
    text = cluster.read_text()
    head, cpu = text.split("groupName: cpu-workers", 1)
    assert cpu.count("image: rayproject/ray:2.60.0-py311\n") == 1
    cpu = cpu.replace("image: rayproject/ray:2.60.0-py311\n", f"image: {image}\n")
    cpu = cpu.replace(
        "      template:\n        spec:\n",
        "      template:\n        spec:\n          tolerations:\n            - key: nvidia.com/gpu\n"
        "              operator: Exists\n              effect: NoSchedule\n",
        1,
    )
    cluster.write_text(head + "groupName: cpu-workers" + cpu)
    return cluster


def test_a_cuda_image_leaks_without_a_word_in_the_manifest(copy: Path) -> None:
    """A -cu128 image on a CPU group that can land on the GPU node: GPU-LEAK-ENV at the image line."""
    cluster = _cpu_group_on_gpu_node_with(copy, "rayproject/ray:2.60.0-py311-cu128")
    result = check(copy)
    [f] = findings(result, "GPU-LEAK-ENV")
    assert f.loc == at(cluster, line_of(cluster, "image: rayproject/ray:2.60.0-py311-cu128"))
    assert "rayproject/ray:2.60.0-py311-cu128" in f.message and "base-deps" in f.message
    assert "void" in f.fix and f.evidence["gpu_nodes"] == ["gpu-node-1"]
    node = ray_node_of_group(plan_of(result), "cpu-workers")
    if node.k8s_node == "gpu-node-1":  # the leaked GPU is what Ray then counts there
        assert node.resources["GPU"] == 1.0


def test_a_cpu_image_on_the_same_group_does_not_leak(copy: Path) -> None:
    """The twin: the same placement with a CPU image (no platform tag) raises nothing."""
    _cpu_group_on_gpu_node_with(copy, "rayproject/ray:2.60.0-py311")
    assert not findings(check(copy), "GPU-LEAK-ENV")


def test_the_pods_env_overrides_the_images(copy: Path) -> None:
    """NVIDIA_VISIBLE_DEVICES=void in the pod's env wins over the image's all."""
    cluster = _cpu_group_on_gpu_node_with(copy, "rayproject/ray:2.60.0-py311-cu128")
    edit(
        cluster,
        "image: rayproject/ray:2.60.0-py311-cu128\n",
        "image: rayproject/ray:2.60.0-py311-cu128\n"
        "              env:\n                - name: NVIDIA_VISIBLE_DEVICES\n                  value: void\n",
    )
    assert not findings(check(copy), "GPU-LEAK-ENV")


def test_the_expectations_override_the_table_both_ways(copy: Path) -> None:
    """images: says a listed image sets nothing (runtime ignores it), or that an unlisted one leaks."""
    _cpu_group_on_gpu_node_with(copy, "rayproject/ray:2.60.0-py311-cu128")
    exp = copy / "expectations.yaml"
    base = exp.read_text()
    exp.write_text(base + 'images:\n  - image: "rayproject/ray:*-cu128"\n    env: {}\n')
    assert not findings(check(copy), "GPU-LEAK-ENV")

    cluster = copy / "raycluster.yaml"
    cluster.write_text(
        cluster.read_text().replace("rayproject/ray:2.60.0-py311-cu128", "registry.example.com/ml/ray:1")
    )
    exp.write_text(base + 'images:\n  - image: "registry.example.com/ml/*"\n    env: {NVIDIA_VISIBLE_DEVICES: all}\n')
    [f] = findings(check(copy), "GPU-LEAK-ENV")
    assert "registry.example.com/ml/*" in f.message and "expectations.yaml:21" in f.message


def test_a_malformed_images_entry_is_bad_input(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gpuconf.cli import main

    exp = copy / "expectations.yaml"
    exp.write_text(exp.read_text() + "images:\n  - rayproject/ray\n")
    assert main(["check", str(copy)]) == 2
    out = capsys.readouterr()
    assert "expectations.yaml:21" in out.out + out.err and "image:" in out.out + out.err


def test_isolation_message_says_what_the_replica_sees(copy: Path) -> None:
    """On a GPU node whose container holds no GPU, the message says it sees none today (not 'sees the GPU')."""
    cluster = _cpu_group_on_gpu_node_with(copy, "rayproject/ray:2.60.0-py311")
    text = cluster.read_text()
    head, cpu = text.split("groupName: cpu-workers", 1)
    cpu = cpu.replace(
        "          tolerations:\n", '          nodeSelector:\n            gpu-node: "true"\n          tolerations:\n', 1
    )
    cluster.write_text(head + "groupName: cpu-workers" + cpu)
    serve = copy / "serve-config.yaml"
    serve.write_text(serve.read_text() + SIDECAR + "          resources: {cpu_worker: 0.001}\n")
    result = check(copy)
    [f] = findings(result, "ISOLATION-ZERO-GPU")
    assert f.evidence["gpus"] == {"ml-cluster-cpu-workers-worker-0": 0}
    assert "holds no GPU (Ray GPU 0 there): it sees none today" in f.message and "on gpu-node-1" in f.message
    assert "sees them" not in f.message
    assert "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO=1" in f.fix


def test_isolation_message_on_a_gpu_ray_node_names_the_gpus_and_a_cpu_resource(copy: Path) -> None:
    """The twin on the GPU worker: it names the GPU count, the inherited CUDA_VISIBLE_DEVICES and cpu_worker as the fix."""
    serve = copy / "serve-config.yaml"
    serve.write_text(serve.read_text() + SIDECAR)
    [f] = findings(check(copy), "ISOLATION-ZERO-GPU")
    assert "whose Ray node has 1 GPU(s)" in f.message and "inherits CUDA_VISIBLE_DEVICES" in f.message
    assert "resources: {cpu_worker: 0.001}" in f.fix
