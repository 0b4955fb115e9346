"""The soak's warden counts what one run left in a private /tmp and /dev/shm (root, unshare)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare (PID and mount namespaces)"
    ),
    pytest.mark.processes,
]


def _warden(tmp_path: Path, script: str) -> dict:
    report = tmp_path / "run.json"
    cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", sys.executable, "-m", "gpuconf.soak.warden"]
    cmd += ["none", "0", "60", str(report), "--", sys.executable, "-c", script]
    subprocess.run(cmd, check=True, timeout=120)
    return json.loads(report.read_text())


def test_what_a_run_leaves_is_counted_in_its_own_scratch_and_never_reaches_the_host(tmp_path: Path) -> None:
    name = f"gpc-soaktest-{uuid.uuid4().hex[:8]}"
    doc = _warden(tmp_path, f"import os; os.mkdir('/tmp/{name}'); open('/dev/shm/{name}', 'w').close()")
    assert doc["scratch"] == "private"
    assert doc["temp_dirs"] == [name]
    assert doc["shm"] == [name]
    assert doc["rc"] == 0 and not doc["hung"] and doc["processes"] == []
    # The host's /tmp and /dev/shm never saw them: other work on the machine cannot skew the counts.
    assert not Path("/tmp", name).exists()
    assert not Path("/dev/shm", name).exists()


def test_a_run_that_leaves_nothing_reads_clean(tmp_path: Path) -> None:
    doc = _warden(tmp_path, "import tempfile; tempfile.mkdtemp(prefix='other-')")  # not a run's gpc-* dir
    assert (doc["temp_dirs"], doc["shm"], doc["processes"]) == ([], [], [])


def test_a_checkout_under_tmp_stays_visible_in_the_private_tmp(tmp_path: Path) -> None:
    """The run's folder (a clone and its venv under /tmp) is bound back over the fresh tmpfs."""
    assert tmp_path.resolve().is_relative_to("/tmp"), "pytest's tmp_path lies under /tmp here"
    checkout = tmp_path / "clone"
    checkout.mkdir()
    (checkout / "marker").write_text("here")
    script = checkout / "run.py"
    script.write_text(f"import sys; sys.exit(0 if open({str(checkout / 'marker')!r}).read() == 'here' else 3)")
    report = tmp_path / "run.json"
    cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", sys.executable, "-m", "gpuconf.soak.warden"]
    cmd += ["none", "0", "60", str(report), "--", sys.executable, str(script)]
    subprocess.run(
        cmd,
        check=True,
        timeout=120,
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    doc = json.loads(report.read_text())
    assert doc["scratch"] == "private" and doc["rc"] == 0, doc["tail"]
    assert doc["temp_dirs"] == [] and doc["shm"] == [], doc


def test_kept_paths_are_the_outermost_under_tmp(tmp_path: Path) -> None:
    from gpuconf.soak.warden import kept_paths

    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    assert kept_paths([inner, tmp_path / "a", Path("/usr")], Path("/tmp")) == [(tmp_path / "a").resolve()]
