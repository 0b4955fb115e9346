"""The kwok tier's network namespace: created with only `lo`, entered per thread, deleted when unused."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gpuconf.backends.localray.bind import interfaces_of
from gpuconf.provision.kwok import netns

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]


def _cli(*argv: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GPUCONF_STATE": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "gpuconf", "kwok", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_exec_without_a_command_is_a_usage_error(tmp_path: Path) -> None:
    done = _cli("exec", state=tmp_path)
    assert done.returncode == 2 and "usage: gpuconf kwok exec -- CMD" in done.stderr, done.stderr


def test_exec_when_the_control_plane_is_down_says_so(tmp_path: Path) -> None:
    done = _cli("exec", "--", "true", state=tmp_path)
    assert done.returncode == 2 and "not up" in done.stderr and "make kwok-up" in done.stderr, done.stderr


def test_the_off_switch_keeps_the_host_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(netns.ENV_OFF, "1")
    monkeypatch.setattr(netns, "PATH", tmp_path / "absent")
    netns.ensure()
    assert not (tmp_path / "absent").exists() and netns.enter() is False


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a network namespace needs root")
def test_a_namespace_with_only_lo_entered_by_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh name, so a control plane that is up keeps its own; the thread that enters sees only `lo`."""
    name = f"gpuconf-test-{os.getpid()}"
    monkeypatch.delenv(netns.ENV_OFF, raising=False)
    monkeypatch.setattr(netns, "NAME", name)
    monkeypatch.setattr(netns, "PATH", Path("/run/netns") / name)
    try:
        netns.ensure()
        assert netns.exists()
        seen: dict[str, object] = {}

        def inside() -> None:
            seen["entered"] = netns.enter()
            seen["again"] = netns.enter()  # idempotent
            seen["ifaces"] = interfaces_of(f"self/task/{threading.get_native_id()}")
            seen["inside"] = netns.inside()

        worker = threading.Thread(target=inside)
        worker.start()
        worker.join(30)
        assert seen == {"entered": True, "again": True, "ifaces": ["lo"], "inside": True}
        assert not netns.inside(), "only the thread that entered moved"
        lo = subprocess.run(["ip", "-n", name, "-o", "link", "show", "lo"], capture_output=True, text=True, check=True)
        assert "UP" in lo.stdout.split(">")[0], lo.stdout
        assert netns.delete_if_unused() and not netns.exists()
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


def test_a_loopback_server_outside_the_namespace_gets_the_exec_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(netns.ENV_OFF, raising=False)
    monkeypatch.setattr(netns, "exists", lambda: True)
    monkeypatch.setattr(netns, "inside", lambda: False)
    assert "gpuconf kwok exec --" in netns.client_hint("https://127.0.0.1:6443")
    assert netns.client_hint("https://10.0.0.1:6443") == ""  # a real cluster: no hint
    monkeypatch.setattr(netns, "inside", lambda: True)
    assert netns.client_hint("https://127.0.0.1:6443") == ""
