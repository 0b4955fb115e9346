"""The cluster backend's pieces that need no cluster: pod env, device check, node probe, Serve config, endpoints, upload.

Each piece is exercised on real inputs where one exists here: DEVICE_CHECK runs under this
machine's `sh` (with and without a fake `nvidia-smi`), the Serve config comes from the shipped
manifests and is validated by Ray's own schema, and the staged working_dir is the real
`entrypoints/` package.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gpuconf.backends.cluster import endpoints
from gpuconf.backends.cluster.endpoints import in_cluster, open_endpoints
from gpuconf.backends.cluster.jobs import JobFailed, inline_entrypoint, parse_marked
from gpuconf.backends.cluster.nodeprobe import MARK, records_from, tie_to_pods
from gpuconf.backends.cluster.podenv import DOWNWARD_ENV, with_downward_env
from gpuconf.backends.cluster.target import cluster_serve_config, http_port
from gpuconf.backends.cluster.upload import ENTRYPOINTS, stage_entrypoints
from gpuconf.kube.dashboard import DASHBOARD_PORT, dashboard_port
from gpuconf.kube.objects import RAY_START_ENV, NodeInfo, PodInfo
from gpuconf.live.devices import DEVICE_CHECK, DeviceCheck, parse_device_check
from gpuconf.static.check import run_check

ROOT = Path(__file__).resolve().parents[1]
GPU_UUID = "GPU-159fc32e-0fbb-6a05-029a-a730ec3a1854"
SMI_LINE = f"GPU 0: NVIDIA H100 80GB HBM3 (UUID: {GPU_UUID})"
WD_URI = "gcs://_ray_pkg_0123456789abcdef.zip"


def make_pod(
    name: str,
    node: str | None = "node-a",
    group: str = "gpu-group",
    head: bool = False,
    env: dict[str, str] | None = None,
    limits: dict[str, Decimal] | None = None,
    ip: str | None = None,
) -> PodInfo:
    """A PodInfo as objects.pod_info builds it from the API server's pod."""
    labels = {"ray.io/group": "headgroup" if head else group, "ray.io/node-type": "head" if head else "worker"}
    return PodInfo(name, "ns", node, "Running", True, labels, dict(env or {}), dict(limits or {}), [], ip=ip)


# -- podenv ---------------------------------------------------------------------------------------


def _container(name: str, env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": "rayproject/ray:2.60.0"}
    if env is not None:
        c["env"] = env
    return c


def _env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def test_downward_env_added_to_every_ray_container() -> None:
    """Head and every worker group's Ray container (index 0) get both downward-API variables, as fieldRefs."""
    spec = {
        "headGroupSpec": {"template": {"spec": {"containers": [_container("ray-head")]}}},
        "workerGroupSpecs": [
            {"groupName": g, "template": {"spec": {"containers": [_container("ray-worker")]}}} for g in ("cpu", "gpu")
        ],
    }
    out = with_downward_env(spec)
    groups = [out["headGroupSpec"]] + out["workerGroupSpecs"]
    for group in groups:
        env = _env_of(group["template"]["spec"]["containers"][0])
        assert set(DOWNWARD_ENV) <= set(env)
        for name, field in DOWNWARD_ENV.items():
            assert env[name] == {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field}}}
    assert DOWNWARD_ENV == {"GPUCONF_POD_NAME": "metadata.name", "GPUCONF_NODE_NAME": "spec.nodeName"}


def test_downward_env_keeps_user_values_sidecars_and_input() -> None:
    """A variable the user defines is kept as written, only container 0 changes, and the input spec is not mutated."""
    user_env = [{"name": "GPUCONF_NODE_NAME", "value": "pinned"}, {"name": "OTHER", "value": "1"}]
    spec = {
        "headGroupSpec": {
            "template": {"spec": {"containers": [_container("ray-head", user_env), _container("sidecar")]}}
        },
        "workerGroupSpecs": [{"groupName": "empty", "template": {"spec": {}}}],
    }
    before = copy.deepcopy(spec)
    out = with_downward_env(spec)
    assert spec == before
    head, sidecar = out["headGroupSpec"]["template"]["spec"]["containers"]
    env = head["env"]
    assert [e["name"] for e in env] == ["GPUCONF_NODE_NAME", "OTHER", "GPUCONF_POD_NAME"]
    assert env[0] == {"name": "GPUCONF_NODE_NAME", "value": "pinned"}
    assert "env" not in sidecar
    assert out["workerGroupSpecs"][0] == {"groupName": "empty", "template": {"spec": {}}}


def test_downward_env_on_shipped_raycluster() -> None:
    """The shipped RayCluster's groups each gain exactly the two variables and nothing else changes."""
    spec = run_check([ROOT / "manifests"]).plans[0].target.cluster.spec
    out = with_downward_env(spec)
    groups_in = [spec["headGroupSpec"], *list(spec["workerGroupSpecs"])]
    groups_out = [out["headGroupSpec"], *list(out["workerGroupSpecs"])]
    assert len(groups_out) == len(groups_in) >= 2
    for gin, gout in zip(groups_in, groups_out, strict=False):
        cin, cout = gin["template"]["spec"]["containers"][0], gout["template"]["spec"]["containers"][0]
        added = [e["name"] for e in cout["env"][len(cin.get("env") or []) :]]
        assert sorted(added) == sorted(n for n in DOWNWARD_ENV if n not in {e["name"] for e in cin.get("env") or []})
        assert {k: v for k, v in cout.items() if k != "env"} == {k: v for k, v in cin.items() if k != "env"}


# -- podexec: the device check --------------------------------------------------------------------

SH = shutil.which("sh") or "/bin/sh"  # resolved before the tests narrow PATH


def _run_device_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SH, "-c", DEVICE_CHECK], env=env, capture_output=True, text=True, timeout=30)


def _real_device_files() -> list[str]:
    return sorted(glob.glob("/dev/nvidia[0-9]*"))


def test_device_check_on_this_machine_without_gpu(tmp_path: Path) -> None:
    """Run for real under sh with no nvidia-smi on PATH and no NVIDIA env: it exits 0 and shows nothing to report."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = _run_device_check({"PATH": str(empty_bin), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "SMI=<no nvidia-smi>" in result.stdout.splitlines()
    check = parse_device_check(result.stdout)
    assert check.nvidia_visible_devices is None
    assert check.cuda_visible_devices is None
    assert check.has_smi is False
    assert check.smi_lines == [] and check.smi_uuids == []
    assert check.device_files == _real_device_files()
    if not check.device_files:
        assert check.problems() == []
    assert check.as_evidence()["nvidia_smi"] == "not installed"


def test_device_check_reports_leak_with_fake_nvidia_smi(tmp_path: Path) -> None:
    """A fake `nvidia-smi -L` listing an H100 plus NVIDIA_VISIBLE_DEVICES=all: the UUID and the KubeRay 2098 hint are reported."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    smi = fake_bin / "nvidia-smi"
    # Answers only `-L`, so the test also proves the check asks for the list form.
    smi.write_text(f'#!/bin/sh\n[ "$1" = "-L" ] || {{ echo "unexpected args: $*" >&2; exit 2; }}\necho "{SMI_LINE}"\n')
    smi.chmod(0o755)
    env = {
        "PATH": f"{fake_bin}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path),
        "NVIDIA_VISIBLE_DEVICES": "all",
        "CUDA_VISIBLE_DEVICES": "",
    }
    result = _run_device_check(env)
    assert result.returncode == 0, result.stderr
    check = parse_device_check(result.stdout)
    assert check.nvidia_visible_devices == "all"
    assert check.cuda_visible_devices == ""
    assert check.has_smi is True
    assert check.smi_lines == [SMI_LINE]
    assert check.smi_uuids == [GPU_UUID]
    problems = check.problems()
    assert any(GPU_UUID in p and "1 GPU(s)" in p for p in problems), problems
    assert any("NVIDIA_VISIBLE_DEVICES=all" in p and "2098" in p and "void" in p for p in problems), problems
    ev = check.as_evidence()
    assert ev["NVIDIA_VISIBLE_DEVICES"] == "all" and ev["uuids"] == [GPU_UUID] and ev["nvidia_smi"] == [SMI_LINE]


def test_device_check_parse_edge_cases() -> None:
    """Device files alone are a problem; an nvidia-smi error line is not; <unset> means None; unknown lines are ignored."""
    out = "\n".join(
        [
            "NVIDIA_VISIBLE_DEVICES=void",
            "CUDA_VISIBLE_DEVICES=<unset>",
            "DEVICE=/dev/nvidia0",
            "DEVICE=",
            "garbage line",
            "SMI=NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
        ]
    )
    check = parse_device_check(out)
    assert check.nvidia_visible_devices == "void"
    assert check.cuda_visible_devices is None
    assert check.device_files == ["/dev/nvidia0"]
    assert check.smi_uuids == [] and len(check.smi_lines) == 1
    assert check.problems() == ["GPU device files present: ['/dev/nvidia0']"]
    clean = DeviceCheck("void", None, smi_lines=["No devices were found"])
    assert clean.problems() == []


# -- nodeprobe ------------------------------------------------------------------------------------


def _raw_node(
    node_id: str, hostname: str, k8s_node: str | None, head: bool = False, group: str = "gpu-group", gpus: float = 0.0
) -> dict[str, Any]:
    env = {"GPUCONF_POD_NAME": hostname}
    if k8s_node:
        env["GPUCONF_NODE_NAME"] = k8s_node
    return {
        "node_id": node_id,
        "is_head": head,
        "resources": {"CPU": 2.0, **({"GPU": gpus} if gpus else {})},
        "labels": {"ray.io/node-group": group},
        "probe": {"hostname": hostname, "env": env},
    }


def test_node_probe_mark_matches_entrypoint() -> None:
    """The job's entrypoint prints the very marker the parser looks for."""
    from entrypoints import node_probe

    assert node_probe.MARK == MARK == "GPUCONF_NODE_PROBES="


def test_node_probe_main_output_parses(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """What entrypoints/node_probe.main prints (Ray stubbed out) is what parse_marked returns."""
    import ray

    from entrypoints import node_probe

    raw = [_raw_node("n1", "pod-1", "node-a", head=True)]
    monkeypatch.setattr(ray, "init", lambda **_: None)
    monkeypatch.setattr(node_probe, "probe_all_nodes", lambda: raw)
    print("some Ray driver chatter")
    node_probe.main()
    assert parse_marked(capsys.readouterr().out, MARK, "node probe") == raw


def test_parse_marked_takes_last_mark_and_fails_without_one() -> None:
    """The last marked line wins (a retried driver prints twice); no marked line raises JobFailed with the log tail."""
    logs = (
        f"starting\n{MARK}{json.dumps([{'node_id': 'old'}])}\nretry\n{MARK}{json.dumps([{'node_id': 'new'}])}\ndone\n"
    )
    assert parse_marked(logs, MARK, "node probe") == [{"node_id": "new"}]
    with pytest.raises(JobFailed, match="printed no GPUCONF_NODE_PROBES= line") as info:
        parse_marked("Traceback ...\nImportError: no module named entrypoints\n", MARK, "node probe")
    assert "ImportError: no module named entrypoints" in str(info.value)
    # A line that merely contains the mark (not at its start) does not count.
    with pytest.raises(JobFailed):
        parse_marked(f"echo {MARK}[]\n", MARK, "node probe")


def test_the_inline_job_runs_its_own_code_beside_a_users_entrypoints_package(tmp_path: Path) -> None:
    """The job's entrypoint carries the probe modules itself: run by a shell in a folder whose own
    `entrypoints` package has no probe (as a user's image may), it loads ours under names of its own."""
    import shlex
    import subprocess
    import sys

    (tmp_path / "entrypoints").mkdir()
    (tmp_path / "entrypoints" / "__init__.py").write_text("USER = True\n")
    command = inline_entrypoint(
        "import entrypoints, json; p = sys.modules['gpuconf_probe'].collect_probe(run_kernel=False, torch_policy='loaded');"
        " print('OUT=' + json.dumps([entrypoints.USER, p['cuda'], sorted(sys.modules['gpuconf_replica_probe'].__dict__)]))"
    ).replace("python -c", f"{shlex.quote(sys.executable)} -c", 1)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    user, cuda, names = parse_marked(done.stdout, "OUT=", "inline")
    assert user is True and "probe_replicas" in names and "main" in names
    assert cuda["source"] in (None, "nvidia-smi", "cuda_driver")  # torch is not loaded: never imported into it
    assert len(command) < 100_000  # one shell argument stays under Linux's 128 KiB limit


def test_tie_to_pods_and_records() -> None:
    """Ray nodes are tied to pods by hostname; records take node, group and GPU limit from the API server, not the probe."""
    pods = [
        make_pod("head-x", node="cpu-node", head=True),
        make_pod("gpu-x", node="gpu-node", group="gpu-group", limits={"nvidia.com/gpu": Decimal(1)}),
    ]
    nodes = [NodeInfo("cpu-node", {"pool": "cpu"}, []), NodeInfo("gpu-node", {"pool": "gpu"}, [])]
    raw = [
        _raw_node("h", "head-x", "cpu-node", head=True, group="headgroup"),
        # The probe claims another node: the API server's pod binding wins.
        _raw_node("g", "gpu-x", "lying-node", group="gpu-group", gpus=1.0),
        _raw_node("u", "unknown-pod", "gpu-node", group="cpu-group"),
    ]
    probed = tie_to_pods(raw, pods)
    assert [p.pod.name if p.pod else None for p in probed] == ["head-x", "gpu-x", None]
    assert probed[1].node_name == "lying-node" and probed[1].pod_name == "gpu-x"
    records = records_from(probed, nodes, lambda labels: labels.get("pool") == "gpu", "nvidia.com/gpu")
    assert set(records) == {"h", "g", "u"}
    h, g, u = records["h"], records["g"], records["u"]
    assert (h.pod, h.k8s_node, h.group, h.is_head, h.gpu_node, h.gpus_held) == (
        "head-x",
        "cpu-node",
        "headgroup",
        True,
        False,
        0.0,
    )
    assert (g.pod, g.k8s_node, g.group, g.is_head, g.gpu_node, g.gpus_held) == (
        "gpu-x",
        "gpu-node",
        "gpu-group",
        False,
        True,
        1.0,
    )
    assert g.ray_resources == {"CPU": 2.0, "GPU": 1.0}
    # Unknown pod: kept, named by its probe, node from the downward API, group from Ray's label, no GPU limit.
    assert (u.pod, u.k8s_node, u.group, u.is_head, u.gpu_node, u.gpus_held) == (
        "unknown-pod",
        "gpu-node",
        "cpu-group",
        False,
        True,
        0.0,
    )


def test_records_from_unknown_pod_without_node_name() -> None:
    """A probe with neither a matching pod nor a node name gives an empty node that is not a GPU node."""
    probed = tie_to_pods([_raw_node("z", "ghost", None)], [])
    rec = records_from(
        probed, [NodeInfo("n", {"pool": "gpu"}, [])], lambda labels: labels.get("pool") == "gpu", "nvidia.com/gpu"
    )["z"]
    assert (rec.pod, rec.k8s_node, rec.gpu_node, rec.gpus_held) == ("ghost", "", False, 0.0)


# -- target: the Serve config as deployed ---------------------------------------------------------


def _shipped_serve_body() -> Any:
    return run_check([ROOT / "manifests"]).plans[0].target.serve.body


def test_cluster_serve_config_from_shipped_manifest_is_valid_for_ray() -> None:
    """The shipped config gains the gcs:// working_dir and the model; Ray's ServeDeploySchema accepts the result."""
    from ray.serve.schema import ServeDeploySchema

    body = _shipped_serve_body()
    before = json.loads(json.dumps(body))
    config = cluster_serve_config(body, "mlp-other", WD_URI)
    assert json.loads(json.dumps(body)) == before  # the plan's body is not mutated
    (app,) = config["applications"]
    assert app["import_path"].startswith("entrypoints.")
    assert app["runtime_env"] == {"working_dir": WD_URI}
    assert app["args"]["model"] == "mlp-other"
    assert config["http_options"] == before["http_options"]  # the user's HTTP options are kept
    assert http_port(config) == 8000
    schema = ServeDeploySchema.model_validate(config)
    assert schema.applications[0].runtime_env["working_dir"] == WD_URI
    # The validation is not vacuous: Ray rejects a local path as working_dir in a Serve config.
    local = copy.deepcopy(config)
    local["applications"][0]["runtime_env"]["working_dir"] = "/tmp/entrypoints"
    with pytest.raises(ValueError, match="remote URIs"):
        ServeDeploySchema.model_validate(local)


def test_cluster_serve_config_leaves_other_apps_alone() -> None:
    """No URI: no runtime_env; a user's own working_dir and non-entrypoints apps are untouched; no model: args kept."""
    body = {
        "applications": [
            {"name": "a", "import_path": "entrypoints.ml_entrypoint:build_ml_service", "args": {"model": "m"}},
            {
                "name": "b",
                "import_path": "entrypoints.ml_entrypoint:build_ml_service",
                "runtime_env": {"working_dir": "s3://bucket/own.zip"},
            },
            {"name": "c", "import_path": "mypkg.app:build"},
        ]
    }
    assert cluster_serve_config(body, None, None) == body
    config = cluster_serve_config(body, None, WD_URI)
    a, b, c = config["applications"]
    assert a["runtime_env"] == {"working_dir": WD_URI} and a["args"] == {"model": "m"}
    assert b["runtime_env"] == {"working_dir": "s3://bucket/own.zip"}
    assert "runtime_env" not in c


@pytest.mark.parametrize(
    ("config", "port"),
    [
        ({}, 8000),
        ({"http_options": None}, 8000),
        ({"http_options": {"host": "0.0.0.0"}}, 8000),
        ({"http_options": {"port": 8123}}, 8123),
        ({"http_options": {"port": "9000"}}, 9000),
    ],
)
def test_http_port(config: dict[str, Any], port: int) -> None:
    """The Serve proxy port is the config's, else Serve's default 8000."""
    assert http_port(config) == port


# -- endpoints ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "port"),
    [
        (None, DASHBOARD_PORT),
        ("ray start --head --dashboard-host=0.0.0.0 --block", DASHBOARD_PORT),
        ("ray start --head --dashboard-host=0.0.0.0 --dashboard-port=8266 --block", 8266),
        ("ray start --head --dashboard-port 9265 --num-cpus=0", 9265),
        ("ray start --head --resources='{\"gpu_worker\": 0}' --dashboard-port=8300", 8300),
        ("ray start --head --dashboard-port=notaport", DASHBOARD_PORT),
        ("ray start --head --dashboard-port='8266", DASHBOARD_PORT),  # unterminated quote
    ],
)
def test_dashboard_port(cmd: str | None, port: int) -> None:
    """The dashboard port comes from the head's real `ray start`; anything unusable falls back to 8265."""
    env = {RAY_START_ENV: cmd} if cmd is not None else {}
    assert dashboard_port(make_pod("head", head=True, env=env)) == port


def test_in_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-cluster means KUBERNETES_SERVICE_HOST is set and non-empty."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert in_cluster() is False
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "")
    assert in_cluster() is False
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    assert in_cluster() is True


def test_open_endpoints_in_cluster_uses_pod_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside the cluster the head is reached at its pod IP on its real dashboard port, with no port-forward."""
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")

    class NoForward:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("no port-forward may be opened in the cluster")

    monkeypatch.setattr(endpoints, "PortForward", NoForward)
    head = make_pod("head", head=True, ip="10.0.0.7", env={RAY_START_ENV: "ray start --head --dashboard-port=8266"})
    ends = open_endpoints(None, head, serve_port=8123)  # type: ignore[arg-type]
    assert (ends.dashboard_url, ends.serve_url, ends.forwards) == ("http://10.0.0.7:8266", "http://10.0.0.7:8123", [])
    assert ends.as_evidence()["via"] == "pod IP (in cluster)"


# -- upload: the staged working_dir ---------------------------------------------------------------


def _all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_stage_entrypoints_real_package(tmp_path: Path) -> None:
    """The staged working_dir holds entrypoints/ with every module, byte for byte, and no bytecode."""
    dest = stage_entrypoints(tmp_path / "wd")
    assert dest == tmp_path / "wd"
    staged = dest / "entrypoints"
    for name in ("__init__.py", "probe.py", "node_probe.py", "ml_entrypoint.py", "models.py", "timing.py"):
        assert (staged / name).read_bytes() == (ENTRYPOINTS / name).read_bytes(), name
    files = _all_files(dest)
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")], files
    expected = sorted(
        ["entrypoints"]
        + [
            str(Path("entrypoints") / p.relative_to(ENTRYPOINTS))
            for p in ENTRYPOINTS.rglob("*")
            if "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    )
    assert files == expected


def test_stage_entrypoints_drops_bytecode(tmp_path: Path) -> None:
    """__pycache__ folders and stray .pyc files in the source never reach the working_dir."""
    src = tmp_path / "src"
    (src / "__pycache__").mkdir(parents=True)
    (src / "sub" / "__pycache__").mkdir(parents=True)
    (src / "probe.py").write_text("X = 1\n")
    (src / "sub" / "mod.py").write_text("Y = 2\n")
    (src / "__pycache__" / "probe.cpython-311.pyc").write_bytes(b"\0")
    (src / "sub" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (src / "stray.pyc").write_bytes(b"\0")
    dest = stage_entrypoints(tmp_path / "wd", src)
    assert _all_files(dest) == ["entrypoints", "entrypoints/probe.py", "entrypoints/sub", "entrypoints/sub/mod.py"]


def test_a_users_entrypoints_import_path_is_left_alone(tmp_path: Path) -> None:
    """User manifests (outside gpuconf's manifests/ and overlays/) ship nothing: an app importing
    `entrypoints.*` from the user's image runs as given, and the report says which code ran."""
    from gpuconf.backends.cluster.target import serve_code_note
    from gpuconf.live.settings import REPO_ROOT, is_reference_manifests
    from gpuconf.testing.settings import _ship_entrypoints

    user = tmp_path / "manifests"
    user.mkdir()
    assert not is_reference_manifests(user) and not _ship_entrypoints("auto", user)
    assert is_reference_manifests(REPO_ROOT / "manifests") and is_reference_manifests(
        REPO_ROOT / "overlays" / "scaling"
    )
    assert _ship_entrypoints("auto", REPO_ROOT / "manifests") and not _ship_entrypoints("no", REPO_ROOT / "manifests")
    assert _ship_entrypoints("yes", user)
    body = {"applications": [{"name": "mine", "import_path": "entrypoints.ml_entrypoint:app", "route_prefix": "/"}]}
    assert cluster_serve_config(body, None, None) == body  # not shipped: exactly the user's config
    assert "run as given" in serve_code_note(body, None)
    assert "mine run gpuconf's entrypoints/" in serve_code_note(body, WD_URI)
