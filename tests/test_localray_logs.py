"""A failing run's Ray logs are archived from the cluster's temp dir before teardown deletes it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gpuconf.backends.localray import logs
from gpuconf.backends.localray.logs import archive_ray_logs


def _cluster(tmp: Path) -> Any:
    temp = tmp / "ray-temp"
    session = temp / "session_2026-12-01_21-00-00_000000_1" / "logs"
    (session / "serve").mkdir(parents=True)
    (session / "raylet.out").write_text("raylet started\n")
    (session / "serve" / "replica_ml_service.log").write_text("replica crashed: CUDA error\n")
    (session / "ignored.sock").write_text("not a log")
    (temp / "session_latest").symlink_to(session.parent)  # Ray's link to the newest session: not copied twice
    node_log = temp / "ml-head.log"
    node_log.write_text("ray start --head ... ok\n")
    nodes = [SimpleNamespace(log=node_log), SimpleNamespace(log=temp / "never-written.log")]
    return SimpleNamespace(temp_dir=temp, nodes=nodes)


def test_archive_copies_node_and_session_logs(tmp_path: Path) -> None:
    out = archive_ray_logs(_cluster(tmp_path), tmp_path / "reports" / "test_x")
    assert out == tmp_path / "reports" / "test_x" / "ray-logs"
    assert (out / "nodes" / "ml-head.log").read_text() == "ray start --head ... ok\n"
    session = out / "session_2026-12-01_21-00-00_000000_1"
    assert (session / "raylet.out").read_text() == "raylet started\n"
    assert (session / "serve" / "replica_ml_service.log").read_text() == "replica crashed: CUDA error\n"
    assert not (session / "ignored.sock").exists()
    assert not (out / "session_latest").exists()
    assert not (out / "nodes" / "never-written.log").exists()


def test_a_large_log_keeps_its_end(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(logs, "MAX_FILE_BYTES", 100)
    cluster = _cluster(tmp_path)
    cluster.nodes[0].log.write_text("x" * 500 + "THE END\n")
    out = archive_ray_logs(cluster, tmp_path / "d")
    kept = (out / "nodes" / "ml-head.log").read_bytes()
    assert kept.endswith(b"THE END\n") and b"first 408 bytes left out" in kept
    assert len(kept.split(b"\n", 1)[1]) == 100


def test_a_worker_nodes_own_session_is_archived_under_its_temp_dir(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    worker = cluster.temp_dir / "w1a2b" / "session_2026-12-01_21-00-00_000000_1" / "logs"
    worker.mkdir(parents=True)
    (worker / "raylet.out").write_text("bind: Address already in use\n")
    out = archive_ray_logs(cluster, tmp_path / "reports" / "test_y")
    assert (out / "w1a2b" / "session_2026-12-01_21-00-00_000000_1" / "raylet.out").read_text() == (
        "bind: Address already in use\n"
    )
    assert (out / "session_2026-12-01_21-00-00_000000_1" / "raylet.out").read_text() == "raylet started\n"
