"""`gpuconf check` on upstream files kept unmodified under tests/fixtures/upstream (see its README).

Ray's docs GPU RayCluster examples and KubeRay's ray-cluster Helm chart rendered with its default
values and with GPU values: each gets a verdict (exit 0 or 1 with the right rule), never exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuconf.cli import main
from gpuconf.static.check import run_check

REPO = Path(__file__).resolve().parents[1]
UPSTREAM = REPO / "tests" / "fixtures" / "upstream"
NODES = REPO / "manifests" / "nodes"
HELM = UPSTREAM / "kuberay-helm-ray-cluster"
DOCS = sorted((UPSTREAM / "ray-docs").glob("*.yaml"))


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_ray_docs_gpu_cluster_is_pending_on_a_tainted_gpu_pool(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The docs' GPU worker has no toleration: on the shipped (tainted) pool it stays Pending, exit 1."""
    assert main(["check", "--format", "json", "--nodes", str(NODES), str(path)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [f["rule"] for f in doc["findings"] if f["severity"] == "error"] == ["POD-UNSCHEDULABLE"]
    [f] = doc["findings"]
    assert "small-group" in f["message"] and "untolerated taint {nvidia.com/gpu: present}" in f["message"]
    assert "ExtendedResourceToleration" in f["message"]  # and it says what would change the verdict
    assert any("v1alpha1 is deprecated" in n["message"] for n in doc["notices"])
    assert doc["defaults_used"]


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_ray_docs_gpu_cluster_passes_where_gke_admits_it(path: Path) -> None:
    """With ExtendedResourceToleration (GKE), the GPU worker gets the toleration, binds to the GPU node: pass."""
    result = run_check([path], [NODES], extended_resource_toleration=True)
    assert result.verdict == "pass" and result.findings == []
    [plan] = result.plans
    worker = next(n for n in plan.ray_nodes if n.group.label == "small-group")
    assert (worker.k8s_node, worker.is_gpu_node, worker.resources["GPU"]) == ("gpu-node-1", True, 1.0)
    assert not plan.target.serve.given  # a cluster without a Serve config: the cluster-level rules ran


RENDERED = sorted(HELM.glob("rendered-*.yaml"))


def test_the_helm_chart_was_rendered() -> None:
    """The rendered chart is committed with the command that made it (README there)."""
    assert [p.name for p in RENDERED] == ["rendered-defaults.yaml", "rendered-gpu.yaml"]
    assert "helm template" in (HELM / "README.md").read_text()


def test_helm_chart_with_defaults_passes() -> None:
    """Defaults: a head and one 1-CPU worker group, no GPU: a pass with cluster-level rules only."""
    result = run_check([HELM / "rendered-defaults.yaml"], [NODES])
    assert result.verdict == "pass", [f.message for f in result.findings]
    [plan] = result.plans
    assert {p.group.label for p in plan.pods} == {"headgroup", "workergroup"}
    assert all(not n.is_gpu_node for n in plan.ray_nodes)


def test_helm_chart_with_gpu_values_lands_on_the_gpu_node() -> None:
    """GPU values: the worker group binds to the GPU node with one Ray GPU; the -gpu head stays off it."""
    result = run_check([HELM / "rendered-gpu.yaml"], [NODES])
    assert result.verdict == "pass", [f.message for f in result.findings]
    [plan] = result.plans
    worker = next(n for n in plan.ray_nodes if n.group.label == "gpu-workers")
    assert (worker.k8s_node, worker.resources["GPU"]) == ("gpu-node-1", 1.0)
    head = next(n for n in plan.ray_nodes if n.group.is_head)
    assert head.k8s_node == "cpu-node-1" and "GPU" not in head.resources


def test_the_unrendered_chart_template_says_render_it_first(capsys: pytest.CaptureFixture[str]) -> None:
    """The chart's own template (`{{ ... }}`) is exit 2 with the helm command, not a YAML complaint."""
    template = HELM / "chart" / "templates" / "raycluster-cluster.yaml"
    assert main(["check", "--nodes", str(NODES), str(template)]) == 2
    err = capsys.readouterr().err
    assert "render it first" in err and "helm template" in err
