"""Helm charts and Kustomize folders: recognised, rendered, mapped back to their sources.

Kustomize runs for real (`kubectl kustomize`, on this machine's PATH). Helm is built from its Go
module into ~/.cache/gpuconf/bin/helm-<version>/ by a fixture (skipped, with the reason, without
Go); the `# Source:` mapping is also tested on the captured output committed in
tests/fixtures/upstream/kuberay-helm-ray-cluster/.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpuconf.cli import main
from gpuconf.errors import InputError
from gpuconf.inputs.loader import display_path
from gpuconf.inputs.rendered import KUBECTL_ENV, HelmOptions, helm_chunks, kind_of_folder
from gpuconf.static.check import run_check

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
NODES = MANIFESTS / "nodes"
EXPECT = MANIFESTS / "expectations.yaml"
HELM_FIXTURE = REPO / "tests" / "fixtures" / "upstream" / "kuberay-helm-ray-cluster"
CHART = HELM_FIXTURE / "chart"
SHOWN_CHART = display_path(CHART)  # as output names it: relative to the working folder
TEMPLATE = f"{SHOWN_CHART}/templates/raycluster-cluster.yaml"

HEAD_GPU_PATCH = """apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: ml-cluster
spec:
  headGroupSpec:
    rayStartParams:
      num-gpus: "1"
"""


def overlay(tmp_path: Path, patch: str = HEAD_GPU_PATCH) -> Path:
    """A Kustomize overlay of copies of the shipped manifests: the RayCluster plus a patch; the Serve
    config beside it (it has no `kind`, so no kustomization can hold it)."""
    folder = tmp_path / "overlay"
    folder.mkdir()
    shutil.copy(MANIFESTS / "raycluster.yaml", folder)
    shutil.copy(MANIFESTS / "serve-config.yaml", folder)
    (folder / "head-gpu.yaml").write_text(patch)
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - raycluster.yaml\npatches:\n  - path: head-gpu.yaml\n"
    )
    return folder


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed here")


@needs_kubectl
def test_the_rendered_overlay_fails_head_gpu(tmp_path: Path) -> None:
    """The overlay's patch gives the head a GPU: HEAD-GPU, at the line of the rendered stream."""
    folder = overlay(tmp_path)
    result = run_check([folder], [NODES], EXPECT)
    assert result.verdict == "fail"
    [finding] = [f for f in result.findings if f.rule == "HEAD-GPU"]
    assert finding.loc is not None and finding.loc.file.startswith("<kubectl kustomize ")
    rendered = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True)
    assert 'num-gpus: "1"' in rendered.stdout.splitlines()[finding.loc.line - 1]
    assert result.plans[0].target.serve.given  # the Serve config beside the kustomization went with it


@needs_kubectl
def test_the_base_of_the_overlay_alone_passes(tmp_path: Path) -> None:
    """The same files without the kustomization pass: the overlay, not its base, is what was checked above."""
    folder = overlay(tmp_path)
    (folder / "kustomization.yaml").unlink()
    (folder / "head-gpu.yaml").unlink()
    assert run_check([folder], [NODES], EXPECT).verdict == "pass"


@needs_kubectl
def test_an_overlay_below_a_folder_is_not_read_raw(tmp_path: Path) -> None:
    """A parent folder's walk skips the Kustomize folder below it (its files are not manifests until
    rendered) and says how to check it."""
    folder = overlay(tmp_path)
    (tmp_path / "cluster.yaml").write_text((MANIFESTS / "raycluster.yaml").read_text())
    result = run_check([tmp_path], [NODES], EXPECT)
    assert [str(p.target.cluster.loc.file) for p in result.plans] == [str(tmp_path / "cluster.yaml")]
    assert any(f"gpuconf check {folder}" in str(n) for n in result.notices)


def test_no_renderer_says_render_it_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without kubectl or kustomize on the PATH: exit 2 with "render it first" and the exact command."""
    folder = overlay(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv(KUBECTL_ENV, raising=False)
    assert main(["check", str(folder), "--nodes", str(NODES)]) == 2
    err = capsys.readouterr().err
    assert f"{folder}/kustomization.yaml:1: error:" in err
    assert f"render it first: `kubectl kustomize {folder} > rendered.yaml`" in err


def test_no_helm_says_render_it_first_with_the_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A chart folder without helm installed: exit 2, the helm command with the given values and sets."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("GPUCONF_HELM", raising=False)
    values = HELM_FIXTURE / "gpu-values.yaml"
    argv = ["check", str(CHART), "--helm-values", str(values), "--helm-set", "image.tag=2.60.0"]
    assert main([*argv, "--nodes", str(NODES)]) == 2
    err = capsys.readouterr().err
    assert "is a Helm chart and helm is not installed here" in err
    command = f"helm template ray-cluster {SHOWN_CHART} -f {values} --set image.tag=2.60.0"
    assert f"render it first: `{command} > rendered.yaml`" in err


def test_helm_options_without_a_chart_are_bad_input() -> None:
    """--helm-values with no chart among the paths would be ignored: exit 2 instead."""
    with pytest.raises(InputError, match="no Helm chart"):
        run_check([MANIFESTS], helm=HelmOptions(values=("x",)))


def test_folders_are_recognised() -> None:
    """Chart.yaml: helm; kustomization.yaml: kustomize; neither: a plain folder."""
    assert kind_of_folder(CHART) == "helm"
    assert kind_of_folder(MANIFESTS) is None
    assert kind_of_folder(MANIFESTS / "raycluster.yaml") is None


def test_source_comments_map_documents_to_templates() -> None:
    """On helm's captured output: each document under `<chart>/templates/x.yaml`, lines counted from the
    line after its `# Source:` comment (so the template's own first lines keep their numbers)."""
    text = (HELM_FIXTURE / "rendered-gpu.yaml").read_text()
    chunks = helm_chunks(text, CHART)
    assert [c.file for c in chunks] == [TEMPLATE]
    template = (CHART / "templates" / "raycluster-cluster.yaml").read_text().splitlines()
    first = chunks[0].text.splitlines()
    assert first[0] == template[0] == "apiVersion: ray.io/v1"
    assert first[1] == template[1] == "kind: RayCluster"


def test_findings_on_a_rendered_chart_point_at_the_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in `helm` that prints the captured output with the head given a GPU: the finding is at
    the chart's template file, at its line in the rendered document."""
    rendered = (HELM_FIXTURE / "rendered-gpu.yaml").read_text()
    head_spec = "  headGroupSpec:\n"
    assert head_spec in rendered
    rendered = rendered.replace(head_spec, head_spec + "    rayStartParams:\n      num-gpus: '1'\n", 1)
    (tmp_path / "out.yaml").write_text(rendered)
    fake = tmp_path / "helm"
    fake.write_text(f"#!/bin/sh\ncat {tmp_path / 'out.yaml'}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("GPUCONF_HELM", str(fake))
    result = run_check([CHART], [NODES])
    [finding] = [f for f in result.findings if f.rule == "HEAD-GPU"]
    assert finding.loc is not None and finding.loc.file == TEMPLATE
    doc = rendered.split("# Source: ray-cluster/templates/raycluster-cluster.yaml\n", 1)[1].splitlines()
    assert "num-gpus" in doc[finding.loc.line - 1]


def test_a_failing_renderer_is_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """helm's own error is exit 2 at the chart, with its message."""
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho 'Error: values do not meet the specifications' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("GPUCONF_HELM", str(fake))
    with pytest.raises(InputError, match="values do not meet the specifications") as exc:
        run_check([CHART], [NODES])
    assert exc.value.loc is not None and exc.value.loc.file.endswith("chart/Chart.yaml")


@pytest.fixture(scope="session")
def helm() -> Path:
    """helm, built once from its Go module (HELM_VERSION in build/versions.env) into the cache, on the
    host's network (`make build-cache` builds it ahead); skipped without Go."""
    from gpuconf.provision.kwok import build

    comp = build.tool_components()["helm"]
    if not comp.is_cached() and shutil.which("go") is None:
        pytest.skip("Go is not installed: helm cannot be built from its Go module (helm.sh/helm/v3)")
    build.ensure_component(comp)
    return comp.path("helm")


@pytest.mark.slow
def test_real_helm_renders_the_upstream_chart(helm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KubeRay's ray-cluster chart with GPU values, rendered by the real helm: the same verdict as the
    committed rendering, findings at the template file; with --helm-set giving the head a GPU, HEAD-GPU."""
    monkeypatch.setenv("GPUCONF_HELM", str(helm))
    values = HELM_FIXTURE / "gpu-values.yaml"
    rendered = run_check([CHART], [NODES], helm=HelmOptions(values=(str(values),), release="raycluster"))
    committed = run_check([HELM_FIXTURE / "rendered-gpu.yaml"], [NODES])
    assert rendered.verdict == committed.verdict
    assert [f.rule for f in rendered.findings] == [f.rule for f in committed.findings]
    head_gpu = HelmOptions(values=(str(values),), sets=("head.rayStartParams.num-gpus=1",), release="raycluster")
    result = run_check([CHART], [NODES], helm=head_gpu)
    [finding] = [f for f in result.findings if f.rule == "HEAD-GPU"]
    assert finding.loc is not None and finding.loc.file == TEMPLATE


def _piped(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`COMMAND | gpuconf check - --format json` through a real shell pipeline."""
    gpuconf = f"{shlex.quote(sys.executable)} -m gpuconf check - --format json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        f"set -o pipefail; {command} | {gpuconf}",
        shell=True,
        executable="/bin/bash",
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@needs_kubectl
@pytest.mark.processes
def test_kustomize_piped_to_stdin_fails_head_gpu_at_the_streams_line(tmp_path: Path) -> None:
    """`kubectl kustomize DIR | gpuconf check -`: the overlay's HEAD-GPU at `<stdin>:LINE` of that stream."""
    folder = overlay(tmp_path)
    (tmp_path / "nodes").mkdir()
    shutil.copytree(NODES, tmp_path / "nodes", dirs_exist_ok=True)
    shutil.copy(EXPECT, tmp_path / "expectations.yaml")
    done = _piped(f"kubectl kustomize {shlex.quote(str(folder))}", tmp_path)
    assert done.returncode == 1, done.stderr
    [finding] = [f for f in json.loads(done.stdout)["findings"] if f["rule"] == "HEAD-GPU"]
    rendered = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True)
    assert finding["file"] == "<stdin>" and 'num-gpus: "1"' in rendered.stdout.splitlines()[finding["line"] - 1]


@pytest.mark.slow
@pytest.mark.processes
def test_helm_template_piped_to_stdin_gives_the_charts_verdict(helm: Path, tmp_path: Path) -> None:
    """`helm template … | gpuconf check -`: the real helm's stream, findings at `<stdin>` lines."""
    (tmp_path / "nodes").mkdir()
    shutil.copytree(NODES, tmp_path / "nodes", dirs_exist_ok=True)
    shutil.copy(EXPECT, tmp_path / "expectations.yaml")
    values = HELM_FIXTURE / "gpu-values.yaml"
    command = (
        f"{shlex.quote(str(helm))} template raycluster {shlex.quote(str(CHART))} -f {shlex.quote(str(values))} "
        "--set head.rayStartParams.num-gpus=1"
    )
    done = _piped(command, tmp_path)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    [finding] = [f for f in doc["findings"] if f["rule"] == "HEAD-GPU"]
    assert finding["file"] == "<stdin>" and finding["line"] > 0
