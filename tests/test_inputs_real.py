"""`gpuconf check` on real inputs: KubeRay's own samples, kubectl output, and the shapes users bring.

The KubeRay samples are read unmodified from the Go module cache (ray-operator v1.5.0), never copied.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gpuconf.cli import main
from gpuconf.errors import InputError
from gpuconf.static.check import NOTHING_TO_CHECK, run_check

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
KUBECTL = REPO / "tests" / "fixtures" / "kubectl"
KUBERAY = ("github.com/ray-project/kuberay/ray-operator", "v1.5.0")


@pytest.fixture(scope="module")
def samples() -> list[Path]:
    """Every YAML file of KubeRay v1.5.0's config/samples, from the Go module cache."""
    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        pytest.skip("go is not installed: cannot read KubeRay's samples from the Go module cache")
    from gpuconf.provision.kwok.build import BuildError, module_dir

    try:
        folder = module_dir(*KUBERAY) / "config" / "samples"
    except BuildError as exc:
        pytest.skip(f"KubeRay's module is not in the Go module cache and cannot be downloaded: {exc}")
    files = sorted(folder.rglob("*.yaml"))
    assert len(files) >= 60, folder
    return files


def _outcome(path: Path) -> tuple[str, str]:
    try:
        result = run_check([path], [MANIFESTS / "nodes"])
    except InputError as exc:
        return "rejected", exc.render()
    return result.verdict, "; ".join(str(n) for n in result.notices)


def test_every_kuberay_sample_is_read_without_a_traceback(samples: list[Path]) -> None:
    """Each sample passes, fails on findings, or has nothing to check (said why); none is refused."""
    outcomes = {p.name: _outcome(p) for p in samples}
    rejected = {name: why for name, (verdict, why) in outcomes.items() if verdict == "rejected"}
    assert not rejected, rejected
    nothing = {name: why for name, (verdict, why) in outcomes.items() if verdict == NOTHING_TO_CHECK}
    assert len(nothing) == 4, nothing
    for why in nothing.values():
        assert "not modelled: Ingress" in why or "not modelled: Gateway" in why or "uses an existing cluster" in why
    assert sum(v == "pass" for v, _ in outcomes.values()) >= 30


def test_nothing_to_check_is_exit_0_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An Ingress-only file or a RayJob on an existing cluster: exit 0, `nothing to check`, never PASS."""
    ingress = tmp_path / "ingress.yaml"
    ingress.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: ray}\nspec: {}\n", encoding="utf-8"
    )
    job = tmp_path / "job.yaml"
    job.write_text(
        "apiVersion: ray.io/v1\nkind: RayJob\nmetadata: {name: j}\nspec:\n  entrypoint: python x.py\n"
        "  clusterSelector:\n    ray.io/cluster: shared\n",
        encoding="utf-8",
    )
    for path, says in ((ingress, "not modelled: Ingress/ray"), (job, "RayJob/j uses an existing cluster")):
        assert main(["check", "--nodes", str(MANIFESTS / "nodes"), str(path)]) == 0
        out = capsys.readouterr().out
        assert "verdict: NOTHING TO CHECK" in out and "PASS" not in out and says in out
        assert main(["check", "--format", "json", "--nodes", str(MANIFESTS / "nodes"), str(path)]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["verdict"] == NOTHING_TO_CHECK and doc["targets"] == []
        assert any(says in n["message"] for n in doc["notices"])


def test_a_misspelt_ray_kind_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`kind: RayClustr` is not 'not modelled' (a pass over nothing): exit 2 naming the kind it meant."""
    for kind, api in (("RayClustr", "ray.io/v1"), ("RayService", "ray.io/v2"), ("RayCronJob", "ray.io/v1")):
        path = tmp_path / f"{kind}.yaml"
        path.write_text(f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: x}}\n", encoding="utf-8")
        assert main(["check", "--nodes", str(MANIFESTS / "nodes"), str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{path}:" in err and "KubeRay 1.5" in err


def test_a_serve_config_alone_is_still_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Serve config without its cluster names what is missing (exit 2), not 'nothing to check'."""
    shutil.copy(MANIFESTS / "serve-config.yaml", tmp_path / "serve.yaml")
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", encoding="utf-8")
    assert main(["check", "--nodes", str(MANIFESTS / "nodes"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "serve.yaml:3:" in err and "RayCluster" in err


def test_other_kinds_are_listed_as_not_modelled(samples: list[Path]) -> None:
    """A RayCluster file with a ConfigMap beside it: the ConfigMap is named with file:line, the cluster checked."""
    path = next(p for p in samples if p.name == "ray-cluster.autoscaler.yaml")
    result = run_check([path], [MANIFESTS / "nodes"])
    assert [p.target.name for p in result.plans] == ["RayCluster/raycluster-autoscaler"]
    notes = [str(n) for n in result.notices]
    assert any("not modelled: ConfigMap/" in n and ".yaml:" in n for n in notes), notes


def test_rayjob_is_checked_through_its_ray_cluster_spec(samples: list[Path]) -> None:
    """A RayJob's rayClusterSpec is planned like a RayCluster; no Serve config is said, not an error."""
    path = next(p for p in samples if p.name == "ray-job.sample.yaml")
    result = run_check([path], [MANIFESTS / "nodes"])
    assert [p.target.name for p in result.plans] == ["RayJob/rayjob-sample"]
    assert result.plans[0].target.serve.given is False
    assert result.plans[0].pods


def test_rayjob_with_cluster_selector_uses_an_existing_cluster(samples: list[Path]) -> None:
    """clusterSelector: reported as using an existing cluster (nothing of its own to plan)."""
    path = next(p for p in samples if p.name == "ray-job.use-existing-raycluster.yaml")
    result = run_check([path], [MANIFESTS / "nodes"])
    assert result.verdict == NOTHING_TO_CHECK and result.plans == []
    assert any("uses an existing cluster" in n.message for n in result.notices)


def test_code_defined_apps_never_pass_over_nothing(samples: list[Path]) -> None:
    """A RayService whose apps list no deployments: each app is named with how to declare it."""
    path = next(p for p in samples if p.name == "ray-service.text-summarizer.yaml")
    result = run_check([path], [MANIFESTS / "nodes"])
    unseen = [f for f in result.findings if f.rule == "SERVE-APP-UNSEEN"]
    assert unseen and result.verdict == "fail"
    assert "deployments:" in unseen[0].fix and "--import-apps" in unseen[0].fix


def test_kubectl_get_nodes_list_with_mig_and_defaults() -> None:
    """`kubectl get nodes -o yaml` (List, managedFields, status) as --nodes; MIG slices make a GPU node."""
    result = run_check([KUBECTL / "rayclusters.yaml"], [KUBECTL / "nodes.yaml"])
    plan = result.plans[0]
    assert result.defaults_used
    assert {n.name: n.is_gpu_node for n in plan.ray_nodes} == {
        "mig-cluster-head": False,
        "mig-cluster-mig-workers-worker-0": True,
    }
    assert plan.expectations.gpu_resource == "nvidia.com/mig-1g.10gb"
    assert any("using the defaults" in n.message for n in result.notices)


def test_defaults_take_num_gpus_deployments_as_gpu_deployments(tmp_path: Path) -> None:
    """Without expectations, the deployment with num_gpus > 0 is the GPU deployment."""
    for name in ("raycluster.yaml", "serve-config.yaml"):
        shutil.copy(MANIFESTS / name, tmp_path / name)
    result = run_check([tmp_path], [MANIFESTS / "nodes"])
    assert result.defaults_used
    exp = result.plans[0].expectations
    assert [(d.app, d.deployment, d.gpus_per_replica) for d in exp.gpu_deployments] == [
        ("ml_service", "MLService", 1.0)
    ]
    assert result.verdict == "pass"


def test_v1alpha1_is_read_with_a_deprecation_notice(tmp_path: Path) -> None:
    """ray.io/v1alpha1 (still served by KubeRay 1.5) is read as v1 and said to be deprecated."""
    text = (MANIFESTS / "raycluster.yaml").read_text().replace("apiVersion: ray.io/v1", "apiVersion: ray.io/v1alpha1")
    (tmp_path / "c.yaml").write_text(text)
    result = run_check([tmp_path / "c.yaml"], [MANIFESTS / "nodes"], MANIFESTS / "expectations.yaml")
    assert any("v1alpha1 is deprecated" in n.message for n in result.notices)
    assert result.plans[0].target.name == "RayCluster/ml-cluster"


def test_helm_template_says_render_it_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A chart template: exit 2 with the helm template command, not an indentation hint."""
    (tmp_path / "t.yaml").write_text(
        'apiVersion: ray.io/v1\nkind: RayCluster\nmetadata:\n  name: {{ include "ray.fullname" . }}\n'
    )
    assert main(["check", str(tmp_path / "t.yaml"), "--format", "json"]) == 2
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["line"] == 4 and "helm template" in err["fix"]


def test_folders_recurse_and_each_root_keeps_its_expectations(tmp_path: Path) -> None:
    """Two manifest roots in one call, one nested in a subfolder: each is planned with its own expectations."""
    for root in ("a", "b/deeper"):
        folder = tmp_path / root
        folder.mkdir(parents=True)
        for name in ("raycluster.yaml", "serve-config.yaml", "expectations.yaml"):
            shutil.copy(MANIFESTS / name, folder / name)
        shutil.copytree(MANIFESTS / "nodes", folder / "nodes")
    strict = tmp_path / "b" / "deeper" / "expectations.yaml"
    strict.write_text(strict.read_text().replace("zeroGpuOnGpuNode: warn", "zeroGpuOnGpuNode: fail"))
    result = run_check([tmp_path / "a", tmp_path / "b"])
    assert len(result.plans) == 2
    assert sorted(p.expectations.isolation_zero_gpu for p in result.plans) == ["fail", "warn"]


def test_same_target_name_in_two_files_names_the_file(tmp_path: Path) -> None:
    """Two RayClusters called ml-cluster in one folder: each target name carries its file."""
    for name in ("one.yaml", "two.yaml"):
        shutil.copy(MANIFESTS / "raycluster.yaml", tmp_path / name)
    result = run_check([tmp_path], [MANIFESTS / "nodes"], MANIFESTS / "expectations.yaml")
    names = sorted(p.target.name for p in result.plans)
    assert len(names) == 2 and names[0] != names[1]
    assert all("ml-cluster (" in n and ".yaml)" in n for n in names), names


def test_shipped_folder_skips_regression_cases_and_lists_other_kinds() -> None:
    """`check manifests` recurses: RBAC objects are listed, the regression cases are skipped and said."""
    result = run_check([MANIFESTS])
    assert result.verdict == "pass"
    notes = [str(n) for n in result.notices]
    assert any("not modelled: ServiceAccount/gpuconf" in n for n in notes), notes
    assert any("regression case(s) in" in n for n in notes), notes


def test_check_help_documents_kinds_defaults_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """`gpuconf check --help`: a description, every option, the kinds read, the defaults, the exit codes."""
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = capsys.readouterr().out
    for needle in (
        "--nodes",
        "--expect",
        "--format",
        "RayJob",
        "ray.io/v1alpha1",
        "kind: List",
        "not modelled",
        "allocatable GPUs",
        "exit codes:",
        "2  bad input",
    ):
        assert needle in text, needle


CODE_DEFINED_SERVE = """\
applications:
  - name: code_app
    import_path: gpu_app:app
    route_prefix: /code
"""


@pytest.mark.slow
def test_import_apps_reads_deployments_with_serve_build(tmp_path: Path) -> None:
    """--import-apps: `serve build` reads num_gpus from @serve.deployment; the app is no longer unseen."""
    shutil.copy(MANIFESTS / "raycluster.yaml", tmp_path / "raycluster.yaml")
    (tmp_path / "serve.yaml").write_text(CODE_DEFINED_SERVE)
    without = run_check([tmp_path], [MANIFESTS / "nodes"])
    assert [f.rule for f in without.findings] == ["SERVE-APP-UNSEEN"]
    result = run_check([tmp_path], [MANIFESTS / "nodes"], import_apps=REPO / "tests" / "fixtures" / "apps")
    assert not [f for f in result.findings if f.rule == "SERVE-APP-UNSEEN"]
    dep = result.plans[0].deployments[0]
    assert (dep.demand.app, dep.demand.deployment, dep.demand.num_gpus) == ("code_app", "CodeModel", 1.0)
    assert [d.deployment for d in result.plans[0].expectations.gpu_deployments] == ["CodeModel"]
    assert dep.feasible == ["ml-cluster-gpu-workers-worker-0"]
    assert any("read with `serve build`" in n.message for n in result.notices)


@pytest.mark.slow
def test_import_apps_failure_is_exit_2_at_the_import_path(tmp_path: Path) -> None:
    """An import path `serve build` cannot import: exit 2 at its line, with what to pass."""
    shutil.copy(MANIFESTS / "raycluster.yaml", tmp_path / "raycluster.yaml")
    (tmp_path / "serve.yaml").write_text(CODE_DEFINED_SERVE.replace("gpu_app:app", "no_such_module:app"))
    with pytest.raises(InputError) as exc:
        run_check([tmp_path], [MANIFESTS / "nodes"], import_apps=REPO / "tests" / "fixtures" / "apps")
    assert exc.value.loc is not None and exc.value.loc.line == 3
    assert "--import-apps" in exc.value.fix
