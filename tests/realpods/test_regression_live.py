"""The KubeRay issue 2098 regression fails live on real pods, for that reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from gpuconf.provision.realpods import cluster

REPO = Path(__file__).resolve().parents[2]
CASE = REPO / "overlays" / "realpods-regressions" / "nvidia-visible-all"
CHECK = "suites/cluster/test_real_pods.py::test_pods_without_a_gpu_limit_see_no_gpu_device"


def test_nvidia_visible_devices_all_on_a_cpu_pod_fails_live(core: Any, tmp_path: Path) -> None:
    """A no-GPU-limit pod on the GPU node with NVIDIA_VISIBLE_DEVICES=all sees the node's GPUs."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            CHECK,
            "-q",
            "-p",
            "no:randomly",
            "--backend=cluster",
            f"--kubeconfig={cluster.kubeconfig_path()}",
            f"--manifests={CASE}",
            f"--report-dir={tmp_path}",
            "--timeout-scale=3",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 1, f"expected the check to fail (exit 1), got {out.returncode}:\n{text[-3000:]}"
    assert "1 failed" in text, text[-3000:]
    assert "cpu-workers" in text and "NVIDIA_VISIBLE_DEVICES=all in the container (KubeRay issue 2098)" in text, text[
        -3000:
    ]
    assert "GPU device files present: ['/dev/nvidia0', '/dev/nvidia1']" in text, text[-3000:]
