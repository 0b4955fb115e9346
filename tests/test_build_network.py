"""Builds run on the host's network, before any private namespace is entered.

`kwok up` on an empty binary cache calls `go` from the host's network namespace (a recording `go`
on PATH shows where each call ran), and a build from inside a private namespace is refused with
the command that fixes it. The real download from empty Go caches is what `make test-cold` runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpuconf.provision.kwok import netns

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def _recording_go(folder: Path, record: Path) -> Path:
    """A `go` that appends its network namespace and argv to `record`; it answers `env` and fails builds."""
    folder.mkdir()
    shim = folder / "go"
    shim.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            echo "$(stat -L -c %i /proc/self/ns/net) $*" >> {record}
            if [ "$1" = env ]; then echo go1.26.8; exit 0; fi
            echo "recording go: no build in this test" >&2
            exit 1
            """
        )
    )
    shim.chmod(0o755)
    return folder


@needs_root
def test_kwok_up_on_an_empty_cache_calls_go_on_the_host_network(tmp_path: Path) -> None:
    record = tmp_path / "go-calls"
    shim = _recording_go(tmp_path / "shim", record)
    existed = netns.exists()
    env = {
        **os.environ,
        "PATH": f"{shim}:{os.environ['PATH']}",
        "GPUCONF_CACHE": str(tmp_path / "cache"),
        "GPUCONF_STATE": str(tmp_path / "state"),
    }
    env.pop(netns.ENV_OFF, None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gpuconf", "kwok", "up"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        if not existed:
            netns.delete_if_unused()
    assert done.returncode == 1 and "recording go" in done.stderr, done.stderr
    calls = record.read_text().splitlines()
    host = str(os.stat("/proc/self/ns/net").st_ino)  # this test runs on the host's network
    assert any(" env " not in f" {c} " for c in calls), calls  # a build step was tried, not only `go env`
    assert all(c.split()[0] == host for c in calls), f"go ran outside the host's namespace ({host}): {calls}"
    if not existed:
        assert not netns.exists(), "a failed build must not leave the namespace behind"


@needs_root
def test_a_build_inside_a_private_namespace_is_refused_with_the_fix(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """\
        from gpuconf.provision.kwok import build
        comp = build.components(build.load_versions())["etcd"]
        try:
            build.ensure_component(comp)
        except build.BuildError as err:
            print(err)
        """
    )
    env = {**os.environ, "GPUCONF_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "inside a private network namespace" in done.stdout and "make kwok-build" in done.stdout, done.stdout
    assert not (tmp_path / "cache" / "bin").exists() or not any((tmp_path / "cache" / "bin").iterdir())
