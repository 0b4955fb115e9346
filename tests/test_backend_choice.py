"""Backend choice is never silent: a configured cluster is used (or is exit 10), never swapped for embedded."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from gpuconf.backends.registry import choose_backend
from gpuconf.host.ports import free_port
from tests.kubeconfigs import write_kubeconfig

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("requested", "kubeconfig", "want"),
    [
        ("auto", "/k/config", "cluster"),
        ("auto", None, "embedded"),
        ("embedded", "/k/config", "embedded"),
        ("kwok", None, "kwok"),
    ],
)
def test_choose_backend_says_why(requested: str, kubeconfig: str | None, want: str) -> None:
    """auto is cluster whenever a kubeconfig is configured; the reason names the input that decided."""
    backend, reason = choose_backend(requested, kubeconfig, "KUBECONFIG")
    assert backend == want
    assert (kubeconfig in reason) if (requested == "auto" and kubeconfig) else (requested in reason)
    if want == "embedded" and requested == "auto":
        assert "no kubeconfig" in reason


def _unreachable_kubeconfig(tmp_path: Path) -> tuple[Path, str]:
    server = f"https://127.0.0.1:{free_port()}"
    return write_kubeconfig(tmp_path / "kubeconfig", server), server


@pytest.mark.parametrize("how", ["make", "auto"])
def test_unreachable_kubeconfig_is_exit_10_naming_the_server(tmp_path: Path, how: str) -> None:
    """`make conformance KUBECONFIG=<unreachable>` and `--backend auto`: pytest exits 10 within 10 s, the server named."""
    kubeconfig, server = _unreachable_kubeconfig(tmp_path)
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    if how == "make":
        argv = [
            "make",
            "-s",
            "--no-print-directory",
            "conformance",
            f"KUBECONFIG={kubeconfig}",
            f"REPORTS={reports}",
            "PYTEST_ARGS=-q -p no:cacheprovider --benchmark-disable",
        ]
    else:
        env["KUBECONFIG"] = str(kubeconfig)
        argv = [
            str(ROOT / ".venv/bin/python"),
            "-m",
            "pytest",
            "suites",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not slow",
            "--backend=auto",
            f"--report-dir={reports}",
        ]
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    print(f"{how}: {elapsed:.1f} s")
    out = proc.stdout + proc.stderr
    # GNU make exits 2 whenever a recipe fails; the recipe's own status is in its "Error N" line.
    assert (proc.returncode, "Error 10" in proc.stderr) == (2, True) if how == "make" else proc.returncode == 10, out[
        -3000:
    ]
    assert server in out, out[-3000:]
    summary = (reports / "summary.md").read_text()
    assert "Backend `cluster`" in summary and str(kubeconfig) in summary, summary[:600]
    # How long it took is a figure (docs/figures.md), not an assertion: a loaded runner is slower.
