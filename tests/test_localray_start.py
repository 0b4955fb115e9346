"""How a pod's `ray start` argv is made to run beside the other nodes on one host."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuconf.backends.localray.launcher import STARTS_ENV, localize_argv, parallel_starts, worker_temp_dir
from gpuconf.backends.localray.specs import NodeSpec


def _spec(is_head: bool, argv: list[str]) -> NodeSpec:
    return NodeSpec("ml-cluster-gpu-workers-worker-0", "gpu-node-1", "gpu-workers", is_head, argv, {}, 1, True)


def _opt(argv: list[str], name: str) -> str | None:
    return next((w.split("=", 1)[1] for w in argv if w.startswith(f"--{name}=")), None)


def test_each_worker_start_gets_its_own_short_temp_dir(tmp_path: Path) -> None:
    """Two workers sharing the head's temp dir race for the same sockets/raylet.N (Ray's _make_inc_temp)."""
    temp = Path("/tmp/gpc-0123abcd-x3ojd739")
    first = localize_argv(_spec(False, ["ray", "start", "--address=x:1", "--block"]), "127.0.0.1:6379", temp)
    second = localize_argv(_spec(False, ["ray", "start", "--address=x:1", "--block"]), "127.0.0.1:6379", temp)
    dirs = {_opt(first, "temp-dir"), _opt(second, "temp-dir")}
    assert len(dirs) == 2 and all(d and Path(d).parent == temp for d in dirs), dirs
    # Ray puts sockets under <temp-dir>/session_<date>_<time>_<us>_<pid>/sockets/plasma_store: under 108 bytes.
    longest = f"{_opt(first, 'temp-dir')}/session_2026-12-02_01-14-38_441180_4194304/sockets/plasma_store"
    assert len(longest) < 108, longest
    assert _opt(first, "address") == "127.0.0.1:6379"


def test_the_head_keeps_the_run_temp_dir_and_a_users_temp_dir_goes_into_it(tmp_path: Path) -> None:
    head = localize_argv(_spec(True, ["ray", "start", "--head", "--block"]), None, tmp_path)
    assert _opt(head, "temp-dir") == str(tmp_path)
    # A pod's folder names the container's filesystem, not this host's: the run's own folder is used.
    own = localize_argv(_spec(False, ["ray", "start", "--address=x:1", "--temp-dir=/data/ray"]), "a:1", tmp_path)
    assert Path(_opt(own, "temp-dir") or "").is_relative_to(tmp_path)
    assert worker_temp_dir(tmp_path) != worker_temp_dir(tmp_path)


def test_workers_start_together_unless_the_host_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STARTS_ENV, raising=False)
    assert parallel_starts(load=1.5, cpus=2) is True
    assert parallel_starts(load=4.0, cpus=2) is True
    assert parallel_starts(load=4.5, cpus=2) is False
    monkeypatch.setenv(STARTS_ENV, "serial")
    assert parallel_starts(load=0.0, cpus=16) is False
    monkeypatch.setenv(STARTS_ENV, "parallel")
    assert parallel_starts(load=99.0, cpus=2) is True
