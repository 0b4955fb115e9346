"""Known-bad manifests that get as far as Ray: the live checks fail on them, for the right reason.

Each case runs the check it must break in a separate pytest process against the case (its own
local Ray cluster) and reads that run's conformance.json; the user's app variant runs the
placement and CUDA suites whole.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# A replica on the head (seed-dev-config) and a zero-GPU replica on a GPU node
# (zero-gpu-replica-on-gpu-node) are two of the user app variant's mistakes below: the same checks
# fail with the same words there (USER_CHECKS), so those cases are not run again on their own.
CASES = [
    LiveCase("cpu-group-leaks-gpus", "test_head_and_cpu_nodes_see_no_gpu", "failed", "cpu-workers"),
    LiveCase("seed-unescaped-resources", "test_every_replica_answers", "error", "unexpected extra argument"),
    LiveCase("gpu-group-no-gpu-limit", "test_every_replica_answers", "error", "GPU: needs 1, node has 0"),
    LiveCase("more-gpu-replicas-than-gpus", "test_every_replica_answers", "error", "room for 1 of 2 replicas"),
    LiveCase(
        "two-replicas-share-one-time-sliced-gpu",
        "test_whole_gpu_replicas_get_distinct_devices",
        "failed",
        "gpu-shared-1/gpu-0 held by",
    ),
]


SUITES = ["suites/placement/test_placement.py", "suites/cuda/test_cuda.py"]


def check_node_id(check: str) -> str:
    """`suites/<suite>/test_<suite>.py::check`: the one check of SUITES named `check`."""
    found = [f"{suite}::{check}" for suite in SUITES if f"\ndef {check}(" in (ROOT / suite).read_text()]
    assert len(found) == 1, f"{check}: defined in {len(found)} of {SUITES}"
    return found[0]


def _run_suites(
    manifests: Path, report_dir: Path, settings: Settings, targets: list[str] = SUITES
) -> tuple[int, str, dict[str, Any]]:
    """`targets` of the placement and CUDA suites on `manifests` in a pytest process of their own: exit
    code, output, checks."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *targets,
        "-q",
        "-p",
        "no:cacheprovider",
        f"--backend={settings.backend}",
        f"--manifests={manifests}",
        f"--report-dir={report_dir}",
        f"--timeout-scale={settings.timeout_scale}",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GPUCONF_RUN"))}
    # Bounded for real (the child's Ray processes cannot hold it open); a timeout shows what it printed.
    proc = run_bounded(cmd, 900 * settings.timeout_scale, report_dir / "child", cwd=ROOT, env=env)
    report = json.loads((report_dir / "conformance.json").read_text())
    checks = {c["id"].split("::")[-1]: c for c in report["checks"]}
    return proc.returncode, proc.stdout[-3000:] + proc.stderr[-1000:], checks


@pytest.mark.parametrize("case", CASES, ids=[c.case for c in CASES])
def test_live_check_fails_on_case(
    case: LiveCase, tmp_path: Path, gpuconf_settings: Settings, evidence: Evidence
) -> None:
    """Deploy the case on a fresh local cluster; the named check, run alone, must fail and say why."""
    manifest = ROOT / "manifests" / "regressions" / f"{case.case}.yaml"
    rc, out, checks = _run_suites(manifest, tmp_path, gpuconf_settings, [check_node_id(case.check)])
    evidence.add("exit_code", rc)
    evidence.add("checks", {k: {"verdict": v["verdict"], "detail": v["detail"][:300]} for k, v in checks.items()})
    assert rc == 1, out
    got = checks[case.check]
    assert got["verdict"] == case.verdict, got
    assert case.says in got["detail"], got["detail"]


# A user's own app (examples/user-service) made wrong three ways at once, each in the place a user
# would get it wrong: the GPU model asks num_gpus 0 in its @serve.deployment code; the embedder's
# ingress is pinned to the GPU worker; the embedder itself is pinned to a head that advertises a GPU.
USER_VARIANT = {
    "code/summarizer/summarizer.py": [('ray_actor_options={"num_gpus": 1,', 'ray_actor_options={"num_gpus": 0,')],
    "serve-config.yaml": [
        ("          resources: {cpu_worker: 0.001}", "          resources: {gpu_worker: 0.001}"),
        (
            "          num_gpus: 0.5\n          resources: {gpu_worker: 0.001}",
            "          num_gpus: 0.5\n          resources: {head_node: 0.001}",
        ),
    ],
    "raycluster.yaml": [
        (
            '      resources: "\'{\\"head_node\\": 1}\'"',
            '      num-gpus: "1"\n      resources: "\'{\\"head_node\\": 1}\'"',
        )
    ],
}
USER_CHECKS = [
    ("test_gpu_accounting_agrees", ["summarize/Summarizer", "num_gpus is 0 as deployed (set in the code)"]),
    ("test_zero_gpu_replicas_see_no_gpu", ["embed/EmbedIngress", "not blank, on a node with GPU"]),
    ("test_gpu_replicas_run_on_gpu_nodes", ["embed/Embedder", "runs on the head"]),
]


def user_variant(dest: Path) -> Path:
    """examples/user-service copied to `dest`, with the mistakes of USER_VARIANT; the embedder's code
    comes as a `local://` URI (a folder already on every node: this host), which is deployed as is."""
    shutil.copytree(ROOT / "examples" / "user-service", dest)
    edits = {**USER_VARIANT}
    edits["serve-config.yaml"] = [
        *USER_VARIANT["serve-config.yaml"],
        ("working_dir: code/embedder", f"working_dir: local://{(dest / 'code' / 'embedder').resolve()}"),
    ]
    for rel, edits_of_file in edits.items():
        path = dest / rel
        text = path.read_text()
        for old, new in edits_of_file:
            assert old in text, f"{rel}: {old!r} not found: the example changed, update USER_VARIANT"
            text = text.replace(old, new)
        path.write_text(text)
    return dest


def test_live_checks_fail_on_a_user_app_variant(tmp_path: Path, gpuconf_settings: Settings, evidence: Evidence) -> None:
    """On a user's own app (options in code, two apps, ingress first), each check of USER_CHECKS fails
    naming the deployment. One run of the suites serves the three (one test: under pytest-xdist a
    shared fixture was set up once per worker)."""
    rc, out, checks = _run_suites(user_variant(tmp_path / "user-service"), tmp_path / "report", gpuconf_settings)
    evidence.add("checks", {k: {"verdict": v["verdict"], "detail": v["detail"][:300]} for k, v in checks.items()})
    assert rc == 1, out
    wrong = [
        f"{check}: {checks[check]['verdict']}: {checks[check]['detail'][:300]}"
        for check, says in USER_CHECKS
        if checks[check]["verdict"] != "failed" or not all(text in checks[check]["detail"] for text in says)
    ]
    assert not wrong, wrong
