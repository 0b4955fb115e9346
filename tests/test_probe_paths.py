"""How a replica's devices are read: torch only where the process loaded it, else libcuda, else nvidia-smi;
and the two calls a replica gets through `__ray_call__` (start in a thread, then poll)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entrypoints import probe

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]


def test_a_process_without_torch_is_never_made_to_import_it() -> None:
    """torch_policy="loaded": a process that never imported torch keeps it so; the driver API is tried instead."""
    code = (
        "import json, sys; from entrypoints.probe import collect_probe;"
        "p = collect_probe(run_kernel=True, torch_policy='loaded');"
        "print(json.dumps([p['cuda'], p['torch'], p['kernel'], 'torch' in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cuda, torch_info, kernel, imported = json.loads(done.stdout)
    assert imported is False and "not loaded" in torch_info["skipped"]
    if not Path("/usr/lib/x86_64-linux-gnu/libcuda.so.1").exists():
        assert cuda["driver"]["library"] is None and "libcuda.so.1" in cuda["driver"]["init"]
        assert kernel["ran"] is False and cuda["device_count"] == 0


def test_nvidia_smi_devices_are_kept_to_cuda_visible_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """nvidia-smi ignores CUDA_VISIBLE_DEVICES, so the probe keeps only the listed devices (a fake nvidia-smi here)."""
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\necho '0, NVIDIA H100 80GB HBM3, GPU-aaaaaaaa-0000-0000-0000-000000000000, 9.0'\n"
        "echo '1, NVIDIA H100 80GB HBM3, GPU-bbbbbbbb-0000-0000-0000-000000000000, 9.0'\n"
    )
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    devices = probe._smi_facts(probe._Errors())
    assert [d["uuid"] for d in devices] == ["GPU-bbbbbbbb-0000-0000-0000-000000000000"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert probe._smi_facts(probe._Errors()) == []  # empty hides every GPU
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert len(probe._smi_facts(probe._Errors())) == 2  # unset hides none


def test_the_replica_calls_start_a_thread_and_poll_its_result() -> None:
    """The start call returns at once with a token; polls give None until the probe is done, then the probe once."""
    t0 = time.perf_counter()
    token = probe.start_replica_probe(object(), False)
    assert time.perf_counter() - t0 < 1.0
    result = None
    deadline = time.monotonic() + 60
    while result is None and time.monotonic() < deadline:
        result = probe.poll_replica_probe(object(), token)
        time.sleep(0.01)
    assert result is not None and result["pid"] == os.getpid() and "cuda" in result
    assert probe.poll_replica_probe(object(), token) is None  # handed over once, not kept in the replica
