"""A failing run's Ray logs, archived before teardown deletes them with the cluster's temp dir.

Each local node's `ray start` output and Ray's session logs (GCS, raylet, dashboard, Serve's
controller, proxy and replicas, workers) go into ``<dest>/ray-logs/``. A file larger than
MAX_FILE_BYTES keeps only its end: that is where a failure is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from gpuconf.backends.localray.launcher import LocalRayCluster

MAX_FILE_BYTES = 2 * 1024 * 1024
_SUFFIXES = (".log", ".out", ".err", ".txt", ".json")


def archive_ray_logs(cluster: LocalRayCluster, dest: Path) -> Path:
    """Copy the nodes' and Ray's session logs of `cluster` into `dest`/ray-logs; returns that folder."""
    out = dest / "ray-logs"
    out.mkdir(parents=True, exist_ok=True)
    for node in cluster.nodes:
        _copy(node.log, out / "nodes" / node.log.name)
    # The head's session, and each worker's in its own temp dir (session_latest links to one of these).
    for session in sorted([*cluster.temp_dir.glob("session_2*"), *cluster.temp_dir.glob("*/session_2*")]):
        logs = session / "logs"
        name = session.name if session.parent == cluster.temp_dir else f"{session.parent.name}/{session.name}"
        for path in sorted(logs.rglob("*")) if logs.is_dir() else []:
            if path.is_file() and not path.is_symlink() and path.suffix in _SUFFIXES:
                _copy(path, out / name / path.relative_to(logs))
    return out


def _copy(src: Path, dst: Path) -> None:
    try:
        size = src.stat().st_size
    except OSError:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    if size <= MAX_FILE_BYTES:
        shutil.copyfile(src, dst)
        return
    with open(src, "rb") as fh:  # the end of a large log: where the failure is
        fh.seek(size - MAX_FILE_BYTES)
        dst.write_bytes(b"[... first %d bytes left out ...]\n" % (size - MAX_FILE_BYTES) + fh.read())
