"""Ship gpuconf's `entrypoints/` (the reference MLService) to a running Ray cluster as a working_dir.

Only when it is what should run: for gpuconf's own manifests (`manifests/`, `overlays/`), or when
`--ship-entrypoints=yes` asks. A user's Serve config is deployed as given, so an import path
of the user's image (even one named `entrypoints.*`) runs the user's code. The package is uploaded
through the dashboard's package API (what `ray job submit --working-dir` does) and comes back as
a `gcs://_ray_pkg_<hash>.zip` URI.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

ENTRYPOINTS = Path(__file__).resolve().parents[3] / "entrypoints"
_EXCLUDES = ["__pycache__", "*.pyc"]


def stage_entrypoints(dest: Path, source: Path = ENTRYPOINTS) -> Path:
    """Copy the `entrypoints` package into `dest/entrypoints` (the working_dir is `dest`); return `dest`."""
    shutil.copytree(source, dest / "entrypoints", ignore=shutil.ignore_patterns(*_EXCLUDES), dirs_exist_ok=True)
    return dest


def upload_entrypoints(dashboard_url: str, source: Path = ENTRYPOINTS) -> str:
    """Upload `entrypoints/` as a working_dir package; return its `gcs://` URI (no upload when present)."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(dashboard_url)
    with tempfile.TemporaryDirectory(prefix="gpuconf-wd-") as tmp:
        staged = stage_entrypoints(Path(tmp), source)
        # Ray's own upload (the one `ray job submit --working-dir` uses): content-addressed, idempotent.
        return client._upload_package_if_needed(str(staged), include_gitignore=False, excludes=_EXCLUDES)
