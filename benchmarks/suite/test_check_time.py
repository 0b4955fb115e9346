"""How long `gpuconf check` takes, as a user runs it (a new interpreter each time).

A benchmark, not a timed assert: figures go to pytest-benchmark's table and docs/static-inputs.md.
The static tier of `make bench-suite` (benchmarks/suite/ is collected only when named).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"


def _run(args: list[str], cwd: Path) -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconf", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    return proc.returncode


@pytest.fixture(scope="module")
def fifty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest root with 50 RayService files (50 targets), its nodes and expectations."""
    root = tmp_path_factory.mktemp("fifty")
    text = (MANIFESTS / "rayservice.yaml").read_text(encoding="utf-8")
    for i in range(50):
        (root / f"svc-{i:02d}.yaml").write_text(text.replace("name: ml-service", f"name: ml-service-{i}", 1))
    shutil.copy(MANIFESTS / "expectations.yaml", root / "expectations.yaml")
    shutil.copytree(MANIFESTS / "nodes", root / "nodes")
    return root


def test_check_shipped_manifests(benchmark: Any) -> None:
    """`gpuconf check manifests` end to end (target: <= 1.0 s on a 2-core machine)."""
    rc = benchmark.pedantic(_run, args=(["manifests"], REPO), rounds=5, warmup_rounds=1)
    assert rc == 0


def test_check_fifty_file_folder(benchmark: Any, fifty: Path) -> None:
    """`gpuconf check` on a 50-file folder (target: <= 3 s)."""
    rc = benchmark.pedantic(_run, args=([str(fifty)], REPO), rounds=3, warmup_rounds=1)
    assert rc == 0
