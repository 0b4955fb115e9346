"""The kind cluster without docker: its config, the tools check, and the commands `up` runs (with stand-in tools)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpuconf.kube.preflight import KUBERAY_INSTALL
from gpuconf.provision.kind import cli, cluster, tools
from gpuconf.provision.kind.cluster import KindError, config_nodes, kuberay_chart_version
from gpuconf.provision.kind.paths import CLUSTER_CONFIG, CLUSTER_NAME
from gpuconf.provision.kwok.versions import load_versions

ROOT = Path(__file__).resolve().parents[1]
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


# -- the kind config ------------------------------------------------------------------------------


def _join_taints(node: dict[str, Any]) -> list[list[dict[str, str]]]:
    """The taints of every JoinConfiguration patch of a kind node."""
    out = []
    for patch in node.get("kubeadmConfigPatches") or []:
        doc = yaml.safe_load(patch)
        assert doc["kind"] == "JoinConfiguration", doc
        out.append(doc["nodeRegistration"]["taints"])
    return out


def test_kind_config_has_a_control_plane_a_cpu_worker_and_a_tainted_gpu_worker() -> None:
    """Exactly three nodes; only the GPU worker has a label (gpu-node=true) and the NVIDIA taint."""
    doc = yaml.safe_load(CLUSTER_CONFIG.read_text())
    assert (doc["kind"], doc["apiVersion"], doc["name"]) == ("Cluster", "kind.x-k8s.io/v1alpha4", CLUSTER_NAME)
    control, cpu, gpu = doc["nodes"]
    assert [n["role"] for n in doc["nodes"]] == ["control-plane", "worker", "worker"]
    assert "labels" not in control and "labels" not in cpu
    assert _join_taints(control) == [] and _join_taints(cpu) == []
    assert gpu["labels"] == {"gpu-node": "true"}
    assert _join_taints(gpu) == [[GPU_TAINT]]
    assert config_nodes() == doc["nodes"]


def test_kind_node_image_is_pinned_to_the_kubernetes_minor_of_the_suite() -> None:
    """Every node runs the same pinned kindest/node tag (no `latest`), of build/versions.env's minor."""
    images = {n["image"] for n in yaml.safe_load(CLUSTER_CONFIG.read_text())["nodes"]}
    assert len(images) == 1
    image = images.pop()
    repo, _, tag = image.partition(":")
    minor = ".".join(load_versions().kubernetes.split(".")[:2])  # v1.34
    assert repo == "kindest/node" and tag.startswith(minor + ".") and tag[len(minor) + 1 :].isdigit(), image


def test_kind_gpu_worker_matches_the_expectations_and_the_kwok_gpu_node() -> None:
    """The label satisfies manifests/expectations.yaml's GPU selector; the taint is the kwok pool's."""
    gpu = yaml.safe_load(CLUSTER_CONFIG.read_text())["nodes"][2]
    selector = yaml.safe_load((ROOT / "manifests" / "expectations.yaml").read_text())["gpuNodes"]["nodeSelector"]
    assert selector.items() <= gpu["labels"].items()
    assert ",".join(f"{k}={v}" for k, v in selector.items()) == cluster.GPU_NODE_SELECTOR
    kwok_gpu = next(
        n
        for n in yaml.safe_load_all((ROOT / "manifests" / "nodes" / "gpu-pool.yaml").read_text())
        if n["metadata"]["name"] == "gpu-node-1"
    )
    assert _join_taints(gpu) == [kwok_gpu["spec"]["taints"]]


def test_a_config_that_is_not_a_kind_cluster_is_refused(tmp_path: Path) -> None:
    """A wrong file is named, not half-used."""
    bad = tmp_path / "cluster.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\n")
    with pytest.raises(KindError, match="not a kind Cluster config"):
        config_nodes(bad)


def test_kuberay_chart_version_is_the_pinned_one() -> None:
    """build/versions.env's KUBERAY_VERSION without the v, the same the preflight's install hint names."""
    assert kuberay_chart_version() == load_versions().kuberay.removeprefix("v")
    assert f"--version {kuberay_chart_version()}" in KUBERAY_INSTALL


# -- the tools check ------------------------------------------------------------------------------


@pytest.fixture()
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any subprocess started fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a subprocess was started: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def _empty_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("GPUCONF_KIND_STATE", str(tmp_path / "state"))


def test_tools_check_names_every_missing_tool_with_its_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_subprocess: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """PATH with nothing on it: docker, kind and helm each reported with its install line; exit 3."""
    _empty_path(monkeypatch, tmp_path)
    problems = tools.check_tools(tools.REQUIRED["up"])
    assert [p.tool for p in problems] == ["docker", "kind", "helm"]
    assert all(p.problem == "not found on PATH" and p.hint == tools.INSTALL_HINTS[p.tool] for p in problems)
    assert tools.report(problems) == tools.EXIT_MISSING_TOOLS == 3
    err = capsys.readouterr().err.splitlines()
    for tool in ("docker", "kind", "helm"):
        assert sum(line.strip().startswith(f"{tool}: ") and tools.INSTALL_HINTS[tool] in line for line in err) == 1
    assert "go install sigs.k8s.io/kind@" in tools.INSTALL_HINTS["kind"]


def test_tools_check_passes_when_all_answer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Stand-ins for all three, docker info answering: no problem, report returns 0."""
    _fake_tools(monkeypatch, tmp_path)
    assert tools.check_tools(tools.REQUIRED["up"]) == []
    assert tools.report([]) == 0


def test_docker_without_a_daemon_is_a_problem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A docker client whose `docker info` fails is reported with its error and how to start the daemon."""
    bin_dir = _fake_tools(monkeypatch, tmp_path)
    _script(bin_dir / "docker", 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1')
    problems = tools.check_tools(tools.REQUIRED["up"])
    assert [p.tool for p in problems] == ["docker"]
    assert "`docker info` failed (exit 1): Cannot connect to the Docker daemon" in problems[0].problem
    assert problems[0].hint == tools.DOCKER_DOWN_HINT


def test_up_with_missing_tools_exits_3_before_running_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_subprocess: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gpuconf kind up` with an empty PATH: 3, every tool named, no state, nothing on stdout."""
    _empty_path(monkeypatch, tmp_path)
    monkeypatch.setattr(cluster.KindCluster, "up", lambda self: pytest.fail("up ran despite missing tools"))
    assert cli.main(["up"]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert all(f"{tool}: not found on PATH" in err for tool in ("docker", "kind", "helm"))
    assert not (tmp_path / "state").exists()


def test_down_needs_no_helm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_subprocess: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each subcommand asks only for the tools it runs."""
    _empty_path(monkeypatch, tmp_path)
    assert cli.main(["down"]) == 3
    err = capsys.readouterr().err
    assert "kind: not found" in err and "docker: not found" in err and "helm" not in err


# -- what `up` runs, with stand-in tools -----------------------------------------------------------


def _script(path: Path, body: str) -> None:
    path.write_text(f'#!/bin/sh\necho "$(basename "$0") $*" >> "$FAKE_LOG"\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _fake_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clusters: str = "") -> Path:
    """docker, kind and helm stand-ins that log their arguments; only /bin and /usr/bin besides them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    _script(bin_dir / "docker", "exit 0")
    _script(
        bin_dir / "kind",
        'case "$1 $2" in\n'
        '  "get clusters") printf "%s\\n" $FAKE_CLUSTERS ;;\n'
        '  "get kubeconfig") echo "apiVersion: v1"; echo "kind: Config" ;;\n'
        '  "create cluster") [ -z "$FAKE_CREATE_FAILS" ] || { echo "boom" >&2; exit 1; } ;;\n'
        "esac",
    )
    _script(bin_dir / "helm", "exit 0")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.log"))
    monkeypatch.setenv("FAKE_CLUSTERS", clusters)
    monkeypatch.setenv("GPUCONF_KIND_STATE", str(tmp_path / "state"))
    return bin_dir


@pytest.fixture()
def no_api(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """The API-server half of `up` replaced by a recorder (there is no cluster behind the stand-ins)."""
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(cluster, "KubeClient", lambda kubeconfig: calls.append(("client", kubeconfig)) or "kube")
    monkeypatch.setattr(cluster, "wait_nodes_ready", lambda kube, expected: calls.append(("wait", expected)))
    monkeypatch.setattr(cluster, "advertise_gpu_nodes", lambda kube: calls.append(("gpus", kube)))
    return calls


def _calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


def test_up_creates_the_cluster_installs_kuberay_and_prints_the_kubeconfig(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_api: list[tuple[str, Any]], capfd: pytest.CaptureFixture[str]
) -> None:
    """No cluster yet: kind create with the shipped config and the state kubeconfig, the pinned chart,
    then the nodes waited for (3) and the GPUs faked; stdout is only the kubeconfig path."""
    _fake_tools(monkeypatch, tmp_path)
    kubeconfig = tmp_path / "state" / "kind-kubeconfig"
    assert cli.main(["up"]) == 0
    out, err = capfd.readouterr()
    assert out.splitlines() == [str(kubeconfig)]
    calls = _calls(tmp_path)
    assert calls[:2] == ["docker info", "kind get clusters"]
    assert calls[2] == f"kind create cluster --name gpuconf --config {CLUSTER_CONFIG} --kubeconfig {kubeconfig}"
    assert calls[3] == (
        f"helm upgrade --install kuberay-operator kuberay-operator --repo "
        f"https://ray-project.github.io/kuberay-helm/ --version {kuberay_chart_version()} "
        f"--namespace kuberay-system --create-namespace --kubeconfig {kubeconfig} --wait --timeout 5m"
    )
    assert len(calls) == 4
    assert no_api == [("client", str(kubeconfig)), ("wait", 3), ("gpus", "kube")]
    assert "+ kind create cluster" in err  # progress on stderr


def test_up_reuses_an_existing_cluster_and_rewrites_its_kubeconfig(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_api: list[tuple[str, Any]], capfd: pytest.CaptureFixture[str]
) -> None:
    """`kind get clusters` lists gpuconf: no create; the kubeconfig comes from kind, private to the user."""
    _fake_tools(monkeypatch, tmp_path, clusters="other gpuconf")
    assert cli.main(["up"]) == 0
    calls = _calls(tmp_path)
    assert not any(c.startswith("kind create") for c in calls)
    assert "kind get kubeconfig --name gpuconf" in calls
    kubeconfig = tmp_path / "state" / "kind-kubeconfig"
    assert yaml.safe_load(kubeconfig.read_text()) == {"apiVersion": "v1", "kind": "Config"}
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert ("gpus", "kube") in no_api


def test_a_failing_kind_create_exits_1_naming_the_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_api: list[tuple[str, Any]], capfd: pytest.CaptureFixture[str]
) -> None:
    """kind fails: exit 1, the command and its status on stderr, nothing after it ran, nothing on stdout."""
    _fake_tools(monkeypatch, tmp_path)
    monkeypatch.setenv("FAKE_CREATE_FAILS", "1")
    assert cli.main(["up"]) == 1
    out, err = capfd.readouterr()
    assert out == ""
    assert "error: `kind create cluster --name gpuconf" in err and "failed (exit 1)" in err
    assert not any(c.startswith("helm") for c in _calls(tmp_path))
    assert no_api == []


def test_down_deletes_the_cluster_and_its_kubeconfig(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """kind delete with the state kubeconfig (so ~/.kube/config is untouched), then the file goes."""
    _fake_tools(monkeypatch, tmp_path)
    kubeconfig = tmp_path / "state" / "kind-kubeconfig"
    kubeconfig.parent.mkdir()
    kubeconfig.write_text("x")
    assert cli.main(["down"]) == 0
    assert _calls(tmp_path)[-1] == f"kind delete cluster --name gpuconf --kubeconfig {kubeconfig}"
    assert not kubeconfig.exists()


def test_status_without_the_cluster_exits_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """No gpuconf in `kind get clusters`: 1, and how to create it."""
    _fake_tools(monkeypatch, tmp_path, clusters="other")
    assert cli.main(["status"]) == 1
    assert "no kind cluster named gpuconf" in capfd.readouterr().out
