"""The realpods regression overlay fails live on real pods: each of its mistakes trips its own check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gpuconf.provision.realpods import cluster

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "overlays" / "realpods-regressions"


CHECKS = ["test_pods_without_a_gpu_limit_see_no_gpu_device", "test_replica_gpu_is_the_one_its_pod_was_allocated"]


@pytest.fixture(scope="module")
def every_gpu_visible(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Both checks of CHECKS on the one deployment of `every-gpu-visible` (a realpods deployment is the
    dearest thing this tier starts); each must fail for its own mistake. Returns the run's output."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *[f"suites/cluster/test_real_pods.py::{check}" for check in CHECKS],
            "-q",
            "-p",
            "no:randomly",
            "--backend=cluster",
            f"--kubeconfig={cluster.kubeconfig_path()}",
            f"--manifests={CASES / 'every-gpu-visible'}",
            f"--report-dir={tmp_path_factory.mktemp('every-gpu-visible')}",
            "--timeout-scale=3",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 1, f"expected both checks to fail (exit 1), got {out.returncode}:\n{text[-3000:]}"
    assert "2 failed" in text, text[-3000:]
    return text


def _failure_of(text: str, check: str) -> str:
    """The run's output, once it shows that `check` failed (what each check says is its own: the
    tests below look for words only that check's reason carries)."""
    assert f"FAILED suites/cluster/test_real_pods.py::{check}" in text, f"{check} did not fail:\n{text[-3000:]}"
    return text


def test_nvidia_visible_devices_all_on_a_cpu_pod_fails_live(core: Any, every_gpu_visible: str) -> None:
    """A no-GPU-limit pod on the GPU node with NVIDIA_VISIBLE_DEVICES=all sees the node's GPUs."""
    text = _failure_of(every_gpu_visible, CHECKS[0])
    assert "cpu-workers" in text and "NVIDIA_VISIBLE_DEVICES=all in the container (KubeRay issue 2098)" in text, text[
        -3000:
    ]
    assert "GPU device files present: ['/dev/nvidia0', '/dev/nvidia1']" in text, text[-3000:]


def test_gpu_replica_seeing_every_gpu_fails_live(core: Any, every_gpu_visible: str) -> None:
    """NVIDIA_VISIBLE_DEVICES=all in the GPU pod's env overrides the plugin's: the replica can open a GPU
    that was not allocated to its pod, and the check says which."""
    text = _failure_of(every_gpu_visible, CHECKS[1])
    assert "the replica's NVIDIA_VISIBLE_DEVICES is 'all', not the ['GPU-fake-" in text, text[-3000:]
    assert "which were not allocated to its pod" in text, text[-3000:]
