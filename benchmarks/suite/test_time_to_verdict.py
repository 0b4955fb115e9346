"""Time to verdict of the suite itself, per tier, as a user runs it (``make bench-suite``).

Each benchmark runs a tier's whole command in a new process, from start to its report, and keeps
the verdict, the per-stage times (LiveCluster.stages), the check counts and the load average
around the run in extra_info. Not timed asserts: a run that does not reach its verdict fails;
how long it took is compared with the stored baseline (benchmarks/baselines/).

The static tier is benchmarks/suite/test_check_time.py. kwok warm and real pods warm run only when
``--suite-tiers`` names them (``make bench-suite SUITE_TIERS=embedded,kwok,realpods``) and their
tier is up (``make kwok-up``, ``make realpods-up``); else they are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gpuconf.bench.verdict_time import VerdictRun, VerdictRunFailed, run_to_verdict

REPO = Path(__file__).resolve().parents[2]
# A whole embedded or kwok run takes 1.5-3 min here at load 2-10; the bound says it hung.
RUN_TIMEOUT_S = 900.0
_LIVE = ["suites", "benchmarks", "-m", "not slow", "--manifests=manifests", "-p", "no:cacheprovider", "-q"]


def _rounds(config: pytest.Config) -> int:
    return int(config.getoption("--suite-rounds"))


def _asked(config: pytest.Config, tier: str) -> None:
    """Skip unless --suite-tiers names ``tier``: the kwok and realpods tiers are one per machine."""
    tiers = {t.strip() for t in str(config.getoption("--suite-tiers")).split(",")}
    if tier not in tiers:
        pytest.skip(
            f"the {tier} tier is not in --suite-tiers ({','.join(sorted(tiers))}); make bench-suite SUITE_TIERS=..."
        )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GPUCONF_RUN"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


def _timed(benchmark: Any, argv: list[str], report_dir: Path, rounds: int) -> VerdictRun:
    """Run ``argv`` ``rounds`` times under pytest-benchmark; every run must reach the verdict "pass"."""
    runs: list[VerdictRun] = []

    def once() -> None:
        run = run_to_verdict(argv, RUN_TIMEOUT_S, report_dir, REPO, _env())
        runs.append(run)
        if run.returncode != 0 or run.verdict != "pass":
            raise VerdictRunFailed(
                f"{' '.join(argv)} exited {run.returncode} with verdict {run.verdict!r}:\n{run.output_tail}"
            )

    benchmark.pedantic(once, rounds=rounds, iterations=1, warmup_rounds=0)
    last = runs[-1]
    benchmark.extra_info.update(last.evidence())
    benchmark.extra_info["runs_wall_s"] = [round(r.wall_s, 2) for r in runs]
    return last


def test_embedded_time_to_verdict(benchmark: Any, pytestconfig: pytest.Config, tmp_path: Path) -> None:
    """`make conformance` on the embedded backend, warm caches: pytest from start to its report."""
    _asked(pytestconfig, "embedded")
    benchmark.group = "time to verdict"
    report = tmp_path / "reports"
    argv = [sys.executable, "-m", "pytest", *_LIVE, "--backend=embedded", f"--report-dir={report}"]
    run = _timed(benchmark, argv, report, _rounds(pytestconfig))
    assert run.counts.get("passed", 0) > 0, f"no check passed: {run.counts}"
    assert "cluster_up" in run.stages_s, f"the run recorded no cluster start: {run.stages_s}"


def _kwok_up() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconf", "kwok", "status"], cwd=REPO, env=_env(), capture_output=True, timeout=60
    )
    return proc.returncode == 0


def test_kwok_warm_time_to_verdict(benchmark: Any, pytestconfig: pytest.Config, tmp_path: Path) -> None:
    """`make conformance BACKEND=kwok` with the control plane already up."""
    _asked(pytestconfig, "kwok")
    if not _kwok_up():
        pytest.skip("the kwok control plane is not up (make kwok-up), so its time to verdict is not measured")
    benchmark.group = "time to verdict"
    report = tmp_path / "reports"
    argv = [sys.executable, "-m", "pytest", *_LIVE, "--backend=kwok", f"--report-dir={report}"]
    run = _timed(benchmark, argv, report, _rounds(pytestconfig))
    assert run.counts.get("passed", 0) > 0, f"no check passed: {run.counts}"


def _realpods_up() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconf.provision.realpods", "status"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        status = json.loads(proc.stdout)
    except ValueError:
        return False
    procs = status.get("procs") or {}
    return bool(status.get("netns")) and bool(procs) and all(procs.values())


def test_realpods_warm_time_to_verdict(benchmark: Any, pytestconfig: pytest.Config, tmp_path: Path) -> None:
    """The cluster backend's suites on the realpods tier, already up (make test-realpods without up/down)."""
    _asked(pytestconfig, "realpods")
    if not _realpods_up():
        pytest.skip("the realpods tier is not up (make realpods-up), so its time to verdict is not measured")
    benchmark.group = "time to verdict"
    report = tmp_path / "reports"
    kubeconfig = Path.home() / ".cache/gpuconf/realpods-state/controlplane/kubeconfig"
    argv = [
        sys.executable,
        "-m",
        "gpuconf.provision.realpods",
        "exec",
        "--",
        sys.executable,
        "-m",
        "pytest",
        "suites/cluster",
        "suites/kube",
        "--backend=cluster",
        f"--kubeconfig={kubeconfig}",
        "--manifests=overlays/realpods",
        f"--report-dir={report}",
        "--timeout-scale=3",
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    run = _timed(benchmark, argv, report, _rounds(pytestconfig))
    assert run.counts.get("passed", 0) > 0, f"no check passed: {run.counts}"
