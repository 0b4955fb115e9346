"""Where a run's diagnostics and other artifacts go: one folder per owner under the report folder."""

from __future__ import annotations

import re
from pathlib import Path

# Longest folder name kept (a test id with many parameters can be long; file systems allow 255).
_MAX_NAME = 150


def artifacts_dir(report_dir: Path, *owner: str) -> Path:
    """``<report_dir>/<owner>/``, the owner made into one safe folder name (its parts joined by ``-``).

    The owners: a failing check (its test id: ``reports/<test id>/``), and a backend's run
    namespace (``reports/<backend>-<namespace>/``, or ``<backend>-setup`` while none exists yet).
    Nothing is created here; the writer creates the folder when it has something to put in it.
    """
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(owner)).strip("_")[:_MAX_NAME]
    return report_dir / name
