"""Time to verdict of the suite itself: run one tier's command as a user runs it, read its verdict.

No pytest here: ``benchmarks/suite/`` times these runs with pytest-benchmark, so that a change
that slows the suite shows up against the stored baseline (``make bench-suite``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuconf.host.procs import stop_group

# Seconds a timed-out run gets for its own teardown (the suite deletes what it created) before SIGKILL.
STOP_GRACE_S = 30.0


class VerdictRunFailed(RuntimeError):
    """The timed run did not reach the verdict it was timed for; the message says what it saw."""


@dataclass
class VerdictRun:
    """One run of a tier's command: its exit status, wall time and what its report says."""

    argv: list[str]
    returncode: int
    wall_s: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    verdict: str | None = None
    stages_s: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    output_tail: str = ""

    def evidence(self) -> dict[str, Any]:
        """What a benchmark keeps in extra_info: the verdict, per-stage times and the load around it."""
        return {
            "verdict": self.verdict,
            "returncode": self.returncode,
            "wall_s": round(self.wall_s, 2),
            "stages_s": self.stages_s,
            "counts": self.counts,
            "load_before": list(self.load_before),
            "load_after": list(self.load_after),
            "cpus": os.cpu_count(),
        }


def read_report(report_dir: Path) -> tuple[str | None, dict[str, float], dict[str, int]]:
    """``(verdict, stages_s, checks per verdict)`` from a run's conformance.json (Nones when absent)."""
    path = report_dir / "conformance.json"
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, {}, {}
    counts: dict[str, int] = {}
    for check in body.get("checks") or []:
        key = str(check.get("verdict"))
        counts[key] = counts.get(key, 0) + 1
    stages = {str(k): float(v) for k, v in (body.get("stages_s") or {}).items()}
    return body.get("verdict"), stages, counts


def run_to_verdict(
    argv: list[str],
    timeout_s: float,
    report_dir: Path | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> VerdictRun:
    """Run ``argv`` to its end (bounded by ``timeout_s``), timing it; read ``report_dir``'s verdict.

    The command runs in its own session so that a timeout stops all it started (SIGTERM, which the
    suite turns into its own teardown, then SIGKILL), and the message says what it waited for.
    """
    load_before = os.getloadavg()
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop_group(proc, STOP_GRACE_S)
        raise VerdictRunFailed(f"timed out after {timeout_s:g}s waiting for the verdict of: {' '.join(argv)}") from None
    wall = time.monotonic() - started
    verdict, stages, counts = read_report(report_dir) if report_dir is not None else (None, {}, {})
    tail = out.decode(errors="replace")[-3000:] if out else ""
    return VerdictRun(argv, proc.returncode, wall, load_before, os.getloadavg(), verdict, stages, counts, tail)
