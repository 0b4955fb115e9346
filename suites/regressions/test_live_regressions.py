"""Known-bad manifests that get as far as Ray: the live checks fail on them, for the right reason.

Each case runs the placement and CUDA suites in a separate pytest process against
the case (its own local Ray cluster) and reads that run's conformance.json.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpuconf.live.settings import Settings
from gpuconf.testing.evidence import Evidence
from gpuconf.testing.subproc import run_bounded

pytestmark = [pytest.mark.ray, pytest.mark.regression, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveCase:
    """A regression case and the live check it must break."""

    case: str
    check: str
    verdict: str
    says: str


CASES = [
    LiveCase("seed-dev-config", "test_gpu_replicas_run_on_gpu_nodes", "failed", "runs on the head"),
    LiveCase(
        "zero-gpu-replica-on-gpu-node", "test_zero_gpu_replicas_see_no_gpu", "failed", "not blank, on a node with GPU"
    ),
    LiveCase("cpu-group-leaks-gpus", "test_head_and_cpu_nodes_see_no_gpu", "failed", "cpu-workers"),
    LiveCase("seed-unescaped-resources", "test_every_replica_answers", "error", "unexpected extra argument"),
    LiveCase("gpu-group-no-gpu-limit", "test_every_replica_answers", "error", "GPU: needs 1, node has 0"),
    LiveCase("more-gpu-replicas-than-gpus", "test_every_replica_answers", "error", "room for 1 of 2 replicas"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.case for c in CASES])
def test_live_check_fails_on_case(
    case: LiveCase, tmp_path: Path, gpuconf_settings: Settings, evidence: Evidence
) -> None:
    """Deploy the case on a fresh local cluster; the named check must fail and say why."""
    manifest = ROOT / "manifests" / "regressions" / f"{case.case}.yaml"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "suites/placement",
        "suites/cuda",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--backend={gpuconf_settings.backend}",
        f"--manifests={manifest}",
        f"--report-dir={tmp_path}",
        f"--timeout-scale={gpuconf_settings.timeout_scale}",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GPUCONF_RUN"))}
    # Bounded for real (the child's Ray processes cannot hold it open); a timeout shows what it printed.
    proc = run_bounded(cmd, 900 * gpuconf_settings.timeout_scale, tmp_path / "child", cwd=ROOT, env=env)
    report = json.loads((tmp_path / "conformance.json").read_text())
    checks = {c["id"].split("::")[-1]: c for c in report["checks"]}
    evidence.add("exit_code", proc.returncode)
    evidence.add("checks", {k: {"verdict": v["verdict"], "detail": v["detail"][:300]} for k, v in checks.items()})
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-1000:]
    got = checks[case.check]
    assert got["verdict"] == case.verdict, got
    assert case.says in got["detail"], got["detail"]
