"""A live run with hostile container settings changes nothing on the host outside its own folder.

The reference manifests cut to their head (the service pinned there, with no GPU: the worker
groups add nothing to what the head's container settings show), with the head's container given
`LD_PRELOAD` of a library that records every process it is loaded into, and
`rayStartParams.temp-dir` naming a host folder; the run is
started by a shell that exports GPUCONF_RUN_ID (as a wrapping CI script might). The run must end
by its own verdict (the shell is not killed by the run's teardown), the library must never run,
and the host folder must never be written.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from ruamel.yaml import YAML

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.processes]
ROOT = Path(__file__).resolve().parents[1]


def _preload_library(dest: Path, marker: Path) -> Path:
    src = dest / "hook.c"
    src.write_text(
        "#include <fcntl.h>\n#include <unistd.h>\n"
        "__attribute__((constructor)) static void hit(void) {\n"
        f'  int fd = open("{marker}", O_CREAT | O_WRONLY | O_APPEND, 0644);\n'
        '  if (fd >= 0) { write(fd, "x", 1); close(fd); }\n}\n'
    )
    lib = dest / "libhook.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True, timeout=60)
    return lib


def _hostile_manifests(dest: Path, lib: Path, host_folder: Path) -> Path:
    shutil.copytree(ROOT / "manifests", dest, ignore=shutil.ignore_patterns("regressions", "kind", "rbac"))
    yaml = YAML()
    path = dest / "raycluster.yaml"
    doc = yaml.load(path.read_text())
    head = doc["spec"]["headGroupSpec"]
    head["rayStartParams"]["temp-dir"] = str(host_folder)
    head["template"]["spec"]["containers"][0]["env"] = [{"name": "LD_PRELOAD", "value": str(lib)}]
    del doc["spec"]["workerGroupSpecs"]
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    serve_path = dest / "serve-config.yaml"
    serve = yaml.load(serve_path.read_text())
    for app in serve["applications"]:
        for deployment in app.get("deployments", []):
            options = deployment.setdefault("ray_actor_options", {})
            options["num_gpus"] = 0
            options["resources"] = {"head_node": 0.001}
    with serve_path.open("w") as fh:
        yaml.dump(serve, fh)
    return dest


def _forkserver_dirs() -> set[str]:
    """multiprocessing's folders in the host's temp dir that hold a forkserver's listener socket."""
    return {str(d) for d in Path(tempfile.gettempdir()).glob("pymp-*") if any(d.glob("listener-*"))}


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler for the LD_PRELOAD library")
def test_container_settings_and_an_inherited_run_id_stay_off_the_host(tmp_path: Path) -> None:
    marker, host_folder = tmp_path / "preload-ran", tmp_path / "host-ray-temp"
    lib = _preload_library(tmp_path, marker)
    # Proof that the library works: a plain process on the host does record itself.
    subprocess.run(["true"], env={**os.environ, "LD_PRELOAD": str(lib)}, check=True)
    assert marker.read_text() == "x"
    marker.unlink()
    manifests = _hostile_manifests(tmp_path / "manifests", lib, host_folder)
    pytest_cmd = [
        sys.executable,
        "-m",
        "pytest",
        "suites/placement/test_placement.py::test_every_replica_answers",
        "-q",
        "-p",
        "no:cacheprovider",
        "--backend=embedded",
        f"--manifests={manifests}",
        f"--report-dir={tmp_path / 'report'}",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["GPUCONF_RUN_ID"] = "exported-by-the-caller"
    forkservers_before = _forkserver_dirs()
    done = subprocess.run(
        ["sh", "-c", f"{shlex.join(pytest_cmd)}; echo caller-exit=$?"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"the caller was killed ({done.returncode}): {done.stdout[-2000:]}"
    assert "caller-exit=0" in done.stdout, done.stdout[-3000:]
    assert not marker.exists(), "the pod's LD_PRELOAD library ran on the host"
    assert not host_folder.exists(), f"the pod's temp-dir {host_folder} was written on the host"
    # Ray's dashboard starts a multiprocessing forkserver, whose folder outlives a killed process.
    left = _forkserver_dirs() - forkservers_before
    assert not left, f"the run left multiprocessing folders in the host's temp dir: {sorted(left)}"
    report = (tmp_path / "report" / "conformance.json").read_text()
    assert "LD_PRELOAD was not applied" in report  # the evidence says what was left out, and why
