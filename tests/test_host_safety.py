"""A live run on this host keeps to itself: a pod's container env and folders stay in the pod's
world, and a run's teardown never reaches its caller, whatever the environment holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gpuconf.backends.localray import procs
from gpuconf.backends.localray.hostenv import split_env
from gpuconf.backends.localray.launcher import localize_argv
from gpuconf.backends.localray.specs import NodeSpec

ROOT = Path(__file__).resolve().parents[1]


def test_a_pods_loader_and_interpreter_variables_never_reach_the_host() -> None:
    kept, left_out = split_env(
        {
            "LD_PRELOAD": "/opt/lib/libhook.so",
            "LD_LIBRARY_PATH": "/usr/local/nvidia/lib64",
            "PYTHONPATH": "/app",
            "PATH": "/opt/conda/bin:/usr/bin",
            "HF_HOME": "/models",
            "RAY_memory_monitor_refresh_ms": "0",
            "CUDA_VISIBLE_DEVICES": "0",
            "NVIDIA_VISIBLE_DEVICES": "all",
            "OMP_NUM_THREADS": "4",
        }
    )
    assert kept == {
        "RAY_memory_monitor_refresh_ms": "0",
        "CUDA_VISIBLE_DEVICES": "0",
        "NVIDIA_VISIBLE_DEVICES": "all",
        "OMP_NUM_THREADS": "4",
    }
    assert set(left_out) == {"LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "PATH", "HF_HOME"}
    assert "container's image" in left_out["LD_PRELOAD"] and "container setting" in left_out["HF_HOME"]


def _spec(argv: list[str], head: bool) -> NodeSpec:
    return NodeSpec("p", "n", "g", head, argv, {}, 0, False)


def test_a_pods_folders_in_ray_start_go_into_the_runs_own_folder(tmp_path: Path) -> None:
    argv = ["ray", "start", "--head", "--temp-dir=/var/host/ray", "--plasma-directory=/dev/hugepages", "--block"]
    out = localize_argv(_spec(argv, True), None, tmp_path)
    folders = {w.split("=", 1)[0]: w.split("=", 1)[1] for w in out if w.startswith(("--temp-dir", "--plasma-dir"))}
    assert folders == {"--temp-dir": str(tmp_path), "--plasma-directory": str(tmp_path / "plasma-directory")}
    worker = localize_argv(_spec(["ray", "start", "--temp-dir=/var/host/ray"], False), "127.0.0.1:1", tmp_path)
    (temp,) = [w for w in worker if w.startswith("--temp-dir=")]
    assert Path(temp.split("=", 1)[1]).is_relative_to(tmp_path)


def test_an_inherited_run_id_only_prefixes_a_runs_own() -> None:
    a, b = procs.new_run_id("ci-job"), procs.new_run_id("ci-job")
    assert a != b and a.startswith("ci-job.") and procs.new_run_id(None).startswith("gpuconf.")


def test_the_sweep_never_lists_the_caller_or_its_ancestors() -> None:
    """A caller (here `sh`) that carries the run marker in its environment is not one of the run's processes."""
    code = (
        "import json, os; from gpuconf.backends.localray.procs import marked_processes;"
        "print(json.dumps([os.getppid(), [p.pid for p in marked_processes('caller-run')]]))"
    )
    env = {**os.environ, procs.RUN_ENV: "caller-run"}
    done = subprocess.run(
        ["sh", "-c", f'{sys.executable} -c "{code}"; true'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    caller, listed = json.loads(done.stdout)
    assert caller not in listed and os.getpid() not in listed
