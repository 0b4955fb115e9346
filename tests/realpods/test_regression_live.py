"""The realpods regression overlays fail live on real pods, each for its stated reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from gpuconf.provision.realpods import cluster

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "overlays" / "realpods-regressions"


def _run_check(check: str, case: str, report_dir: Path) -> str:
    """Run one suite check against one regression overlay; assert it fails (exit 1); return its output."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"suites/cluster/test_real_pods.py::{check}",
            "-q",
            "-p",
            "no:randomly",
            "--backend=cluster",
            f"--kubeconfig={cluster.kubeconfig_path()}",
            f"--manifests={CASES / case}",
            f"--report-dir={report_dir}",
            "--timeout-scale=3",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 1, f"expected {check} to fail (exit 1), got {out.returncode}:\n{text[-3000:]}"
    assert "1 failed" in text, text[-3000:]
    return text


def test_nvidia_visible_devices_all_on_a_cpu_pod_fails_live(core: Any, tmp_path: Path) -> None:
    """A no-GPU-limit pod on the GPU node with NVIDIA_VISIBLE_DEVICES=all sees the node's GPUs."""
    text = _run_check("test_pods_without_a_gpu_limit_see_no_gpu_device", "nvidia-visible-all", tmp_path)
    assert "cpu-workers" in text and "NVIDIA_VISIBLE_DEVICES=all in the container (KubeRay issue 2098)" in text, text[
        -3000:
    ]
    assert "GPU device files present: ['/dev/nvidia0', '/dev/nvidia1']" in text, text[-3000:]


def test_gpu_replica_seeing_every_gpu_fails_live(core: Any, tmp_path: Path) -> None:
    """NVIDIA_VISIBLE_DEVICES=all in the GPU pod's env overrides the plugin's: the replica can open a GPU
    that was not allocated to its pod, and the check says which."""
    text = _run_check("test_replica_gpu_is_the_one_its_pod_was_allocated", "gpu-worker-visible-all", tmp_path)
    assert "the replica's NVIDIA_VISIBLE_DEVICES is 'all', not the ['GPU-fake-" in text, text[-3000:]
    assert "which were not allocated to its pod" in text, text[-3000:]
