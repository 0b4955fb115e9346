"""Verdicts on KubeRay v1.5.0's own samples that the model used to get wrong (docs/model.md lists each)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gpuconf.static.check import run_check

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
GPU_SERVICES = [
    "ray-service.stable-diffusion.yaml",
    "ray-service.text-summarizer.yaml",
    "ray-service.deepseek.yaml",
    "ray-service.llm-serve.yaml",
]


@pytest.fixture(scope="module")
def samples() -> Path:
    """KubeRay v1.5.0's config/samples from the Go module cache."""
    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        pytest.skip("go is not installed: cannot read KubeRay's samples from the Go module cache")
    from gpuconf.provision.kwok.build import BuildError, module_dir
    from tests.test_inputs_real import KUBERAY

    try:
        return module_dir(*KUBERAY) / "config" / "samples"
    except BuildError as exc:
        pytest.skip(f"KubeRay's module is not in the Go module cache: {exc}")


@pytest.mark.parametrize("name", GPU_SERVICES)
def test_gpu_samples_without_a_selector_get_a_warning_not_an_error(samples: Path, name: str) -> None:
    """Under the reference expectations only GPU nodes advertise nvidia.com/gpu: the selector changes nothing."""
    result = run_check([samples / name], [MANIFESTS / "nodes"], MANIFESTS / "expectations.yaml")
    selector = [f for f in result.findings if f.rule == "GPU-GROUP-SELECTOR"]
    assert selector and {f.severity for f in selector} == {"warning"}, [f.message for f in selector]
    assert selector[0].evidence["not_gpu_nodes"] == []


def test_missing_selector_is_an_error_where_a_non_gpu_node_advertises_gpus(tmp_path: Path) -> None:
    """The regression case errs because of shared-gpu-node; without that node the same group only warns."""
    case = MANIFESTS / "regressions" / "gpu-group-no-nodeselector.yaml"
    (finding,) = [f for f in run_check([case]).findings if f.rule == "GPU-GROUP-SELECTOR"]
    assert finding.severity == "error" and finding.evidence["not_gpu_nodes"] == ["shared-gpu-node"]
    cluster = case.read_text().split("\n---\n# The reference pool")[0]
    twin = tmp_path / "cluster.yaml"
    twin.write_text(cluster)
    result = run_check([twin], [MANIFESTS / "nodes"], MANIFESTS / "expectations.yaml")
    assert {f.severity for f in result.findings if f.rule == "GPU-GROUP-SELECTOR"} == {"warning"}


def test_autoscaler_samples_plan_their_autoscaled_pods(samples: Path) -> None:
    """ray-cluster.autoscaler.yaml: the small group (replicas 1, maxReplicas 10) grows in the plan and passes."""
    result = run_check([samples / "ray-cluster.autoscaler.yaml"], [MANIFESTS / "nodes"])
    assert result.verdict == "pass"
    assert any(p.autoscaled and p.node for p in result.plans[0].pods)


def test_label_selector_sample_lowercase_cpu_is_read_differently_by_the_autoscaler(samples: Path) -> None:
    """Group `resources: {cpu: "0"}`: KubeRay lowercases the name (num-cpus 0), Ray's autoscaler wants `CPU`."""
    result = run_check([samples / "ray-cluster-label-selector.yaml"], [MANIFESTS / "nodes"])
    (finding,) = [f for f in result.findings if f.rule == "AUTOSCALER-MISMATCH"]
    assert "headgroup" in finding.message and "CPU" in finding.message


def test_docs_model_md_is_the_generated_write_up(samples: Path) -> None:
    """docs/model.md holds exactly what gpuconf.static.modeldoc writes for the GPU samples (regenerate it when this fails)."""
    from gpuconf.static.modeldoc import BEGIN, END, is_gpu_sample, model_markdown

    text = (REPO / "docs" / "model.md").read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "docs/model.md lost its generated-section markers"
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert section == model_markdown(samples, MANIFESTS / "nodes"), (
        "docs/model.md is stale: regenerate it with `python -m gpuconf.static.modeldoc SAMPLES_DIR manifests/nodes`"
    )
    gpu = [p.name for p in sorted(samples.glob("*.yaml")) if is_gpu_sample(p)]
    assert set(GPU_SERVICES) <= set(gpu) and all(f"### `{name}`" in section for name in gpu)
