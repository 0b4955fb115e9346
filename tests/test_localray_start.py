"""How a pod's `ray start` argv is made to run beside the other nodes on one host."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from gpuconf.backends.localray import launcher
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


def test_every_node_starts_without_a_log_monitor_unless_the_pod_asks_for_one(tmp_path: Path) -> None:
    """The run's drivers take no worker logs, so no node runs Ray's log monitor; a pod's own setting stays."""
    for is_head, argv in ((True, ["ray", "start", "--head"]), (False, ["ray", "start", "--address=x:1"])):
        assert _opt(localize_argv(_spec(is_head, argv), "a:1", tmp_path), "include-log-monitor") == "false"
    own = localize_argv(_spec(False, ["ray", "start", "--address=x:1", "--include-log-monitor=true"]), "a:1", tmp_path)
    assert [w for w in own if "log-monitor" in w] == ["--include-log-monitor=true"]


def test_workers_start_together_unless_the_host_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STARTS_ENV, raising=False)
    assert parallel_starts(load=1.5, cpus=2) is True
    assert parallel_starts(load=4.0, cpus=2) is True
    assert parallel_starts(load=4.5, cpus=2) is False
    monkeypatch.setenv(STARTS_ENV, "serial")
    assert parallel_starts(load=0.0, cpus=16) is False
    monkeypatch.setenv(STARTS_ENV, "parallel")
    assert parallel_starts(load=99.0, cpus=2) is True


class _Attempt:
    """A `ray start` attempt as _start_workers sees it: joined (a node id) or not, and its log's end."""

    def __init__(self, joined: bool, log: str) -> None:
        self.node_id = "n1" if joined else None
        self.spec, self._log = _spec(False, ["ray", "start"]), log
        self.gpus: list[object] = []

    def log_tail(self, lines: int = 15) -> str:
        return self._log


@pytest.mark.parametrize(
    ("outcomes", "starts", "joined"),
    [
        # The raylet missed its window twice on a starved host, then joined: started alone each time.
        (["timeout", "timeout", "joined"], 3, True),
        # Missing it every time ends after the retries, as not joined (the verdict names the node).
        (["timeout"] * 5, 3, False),
        # Any other failure (a wrong manifest) is never started again.
        (["bad flag"], 1, False),
    ],
)
def test_a_worker_that_missed_its_start_window_is_started_again_alone(
    monkeypatch: pytest.MonkeyPatch, outcomes: list[str], starts: int, joined: bool
) -> None:
    logs = {"timeout": "Exception: The current node timed out during startup.", "bad flag": "Error: no such option"}
    made: list[_Attempt] = []

    def start_node(*_args: object, **_kw: object) -> _Attempt:
        outcome = outcomes[len(made)]
        made.append(_Attempt(outcome == "joined", logs.get(outcome, "")))
        return made[-1]

    monkeypatch.setattr(launcher, "_start_node", start_node)
    monkeypatch.setattr(launcher, "_wait_joined", lambda cluster, nodes: None)
    cluster = SimpleNamespace(nodes=[], start_modes=[], gcs_address="127.0.0.1:1")
    [node] = launcher._start_workers(cluster, [_spec(False, ["ray", "start"])], [[]], together=True)  # type: ignore[arg-type]
    assert len(made) == starts
    assert (node.node_id is not None) is joined
    assert cluster.nodes == [made[-1]]  # failed attempts are not kept as nodes of the cluster


class _Head:
    """A head `ray start` that reports its node up, exits on the start window, or exits otherwise."""

    def __init__(self, outcome: str) -> None:
        self.argv = ["ray", "start", "--head", "--port=6379", "--dashboard-port=8265"]
        self.log = Path("/nonexistent/head.log")
        self._log = {
            "up": "Ray runtime started.",
            "timeout": "Exception: The current node timed out during startup.",
            "bad flag": "Error: no such option",
        }[outcome]
        self.proc = SimpleNamespace(poll=lambda: None if outcome == "up" else 1, pid=-1)

    def log_tail(self, lines: int = 15) -> str:
        return self._log


@pytest.mark.parametrize(
    ("outcomes", "starts", "up"),
    [
        # The head's raylet missed its window on a starved host, then came up: started again before any driver.
        (["timeout", "up"], 2, True),
        # Missing it every time ends after the retries: the exited head is what start_cluster reports.
        (["timeout"] * 5, 3, False),
        # Any other failure (a wrong manifest) is never started again.
        (["bad flag"], 1, False),
    ],
)
def test_a_head_that_missed_its_start_window_is_started_again(
    monkeypatch: pytest.MonkeyPatch, outcomes: list[str], starts: int, up: bool
) -> None:
    made: list[_Head] = []

    def start_node(*_args: object, **_kw: object) -> _Head:
        made.append(_Head(outcomes[len(made)]))
        return made[-1]

    stopped: list[object] = []
    monkeypatch.setattr(launcher, "_start_node", start_node)
    monkeypatch.setattr(launcher.procs, "session_pids", lambda pid: [pid])
    monkeypatch.setattr(launcher, "_ps", lambda pid: pid)
    monkeypatch.setattr(launcher.procs, "terminate", lambda found, grace_s: stopped.extend(found))
    cluster = SimpleNamespace(nodes=[], gcs_address="", dashboard_url="")
    head = launcher._start_head(_spec(True, ["ray", "start", "--head"]), [], cluster)  # type: ignore[arg-type]
    assert len(made) == starts
    assert (head.proc.poll() is None) is up
    assert cluster.nodes == [made[-1]]  # stopped attempts are not kept as nodes of the cluster
    assert len(stopped) == starts - 1
    assert cluster.gcs_address == "127.0.0.1:6379"
