"""Known-bad scaled clusters: the scaling suite fails on each, live, for the stated reason.

Each case (overlays/scaling-regressions/<case>/) runs suites/scaling in a separate pytest process
on a cluster of its own and reads that run's conformance.json, as test_live_regressions does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpuconf.live.settings import Settings
from gpuconf.testing.evidence import Evidence

pytestmark = [pytest.mark.ray, pytest.mark.autoscaling, pytest.mark.regression, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ScalingCase:
    """A scaled regression case, the scaling check it must break and what that check must say."""

    case: str
    check: str
    says: str
    # The checks before it that run too: what they leave is part of the case (an autoscaled node).
    after: tuple[str, ...] = ()


# The scaling checks in the order they run (suites/scaling/test_scaling.py).
CHECK_ORDER = [
    "test_scale_from_zero",
    "test_horizontal_scale_to_gpu_capacity",
    "test_serve_autoscaling_grows_and_falls_back",
]

CASES = [
    # The autoscaler asks for GPU pods; the scheduler cannot bind them (untolerated taint), so no Ray node.
    ScalingCase("autoscaled-pods-lack-toleration", "test_scale_from_zero", "stays Pending: 0/3 nodes are available"),
    # Replicas the GPU group has no room for land on the autoscaled CPU group that advertises the marker.
    ScalingCase(
        "cpu-group-advertises-gpu-marker",
        "test_horizontal_scale_to_gpu_capacity",
        "not a GPU node",
        after=("test_scale_from_zero",),
    ),
    # Serve keeps min_replicas 2; the GPU group's maxReplicas is 1 (on the cluster as it starts).
    ScalingCase("max-replicas-below-min-replicas", "test_serve_autoscaling_grows_and_falls_back", "at its maxReplicas"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.case for c in CASES])
def test_scaling_check_fails_on_case(
    case: ScalingCase, tmp_path: Path, gpuconf_settings: Settings, evidence: Evidence
) -> None:
    """Run the case's check (and the earlier ones it builds on) on the case's own cluster; it must fail
    and say why. The other checks are left out: their passing paths are what `make test`'s scaling
    stage proves already."""
    left_out = [name for name in CHECK_ORDER if name != case.check and name not in case.after]
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "suites/scaling",
        *[f"--deselect=suites/scaling/test_scaling.py::{name}" for name in left_out],
        "-q",
        "-p",
        "no:cacheprovider",
        f"--backend={gpuconf_settings.backend}",
        f"--manifests={ROOT / 'overlays' / 'scaling-regressions' / case.case}",
        f"--report-dir={tmp_path}",
        f"--timeout-scale={gpuconf_settings.timeout_scale}",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GPUCONF_RUN"))}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    report = json.loads((tmp_path / "conformance.json").read_text())
    checks = {c["id"].split("::")[-1]: c for c in report["checks"]}
    evidence.add("exit_code", proc.returncode)
    evidence.add("checks", {k: {"verdict": v["verdict"], "detail": v["detail"][:400]} for k, v in checks.items()})
    assert proc.returncode == 1, proc.stdout[-3000:]
    got = checks[case.check]
    assert got["verdict"] == "failed", got
    assert case.says in got["detail"], got["detail"]
