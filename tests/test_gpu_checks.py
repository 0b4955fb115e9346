"""benchmarks/gpu_checks.py on a host without a GPU: its arguments, its commands, its refusal, its closing table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from benchmarks import gpu_checks

REPO = Path(__file__).resolve().parents[1]


def test_out_defaults_to_the_out_variable_else_reports_gpu() -> None:
    assert gpu_checks.parse_args([], env={"OUT": "/tmp/device-out"}).out == Path("/tmp/device-out")
    assert gpu_checks.parse_args([], env={}).out == REPO / "reports" / "gpu"
    assert gpu_checks.parse_args(["--out", "x"], env={"OUT": "/y"}).out == Path("x")


@pytest.mark.parametrize("argv", [["--tolerance", "-0.1"], ["--budget-s", "0"], ["--profile", "huge"]])
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        gpu_checks.parse_args(argv, env={})
    assert exc.value.code == 2


def test_the_commands_are_the_benchmark_and_bare_torch(tmp_path: Path) -> None:
    args = gpu_checks.parse_args(["--out", str(tmp_path), "--pytest-arg=-k", "--pytest-arg=b64"], env={})
    bench = gpu_checks.bench_command(args)
    assert bench[1:4] == ["-m", "pytest", "benchmarks/test_latency.py"]
    assert "--backend=embedded" in bench and "--require-cuda" in bench and "--bench-profile=realistic" in bench
    assert f"--benchmark-json={tmp_path / 'benchmark.json'}" in bench and bench[-2:] == ["-k", "b64"]
    bare = gpu_checks.bare_command(args, compare=True)
    assert bare[1].endswith("benchmarks/bare_torch.py")
    assert bare[bare.index("--devices") + 1 : bare.index("--budget-s")] == ["cuda"]
    assert bare[-2:] == ["--compare", str(tmp_path / "benchmark.json")]
    assert "--compare" not in gpu_checks.bare_command(args, compare=False)
    with_cpu = gpu_checks.bare_command(gpu_checks.parse_args(["--with-cpu"], env={}), compare=False)
    assert with_cpu[with_cpu.index("--devices") + 1 : with_cpu.index("--budget-s")] == ["cpu", "cuda"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this host has a CUDA device")
def test_without_cuda_it_says_so_and_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a step ran on a host without CUDA")

    monkeypatch.setattr(gpu_checks.subprocess, "run", no_run)
    assert gpu_checks.main(["--out", str(tmp_path / "out")]) == gpu_checks.NO_CUDA_EXIT
    err = capsys.readouterr().err
    assert err.startswith("gpu_checks: no CUDA device visible: torch.cuda.is_available() is False")
    assert "CUDA_VISIBLE_DEVICES=" in err and err.rstrip().endswith("run this on a GPU host")
    assert not (tmp_path / "out").exists()


def _write(out: Path, bare: list[dict[str, Any]], replica: list[dict[str, Any]] | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bare_torch.json").write_text(json.dumps({"results": bare}))
    if replica is not None:
        (out / "benchmark.json").write_text(json.dumps({"benchmarks": [{"extra_info": r} for r in replica]}))


BARE = [
    {"model": "mlp", "batch": 1, "device": "cuda:0", "p50_ms": 0.08, "tflops": 1.0, "peak_tflops": 400.0},
    {
        "model": "bert-base",
        "batch": 64,
        "device": "cuda:0",
        "device_name": "NVIDIA H200",
        "p50_ms": 7.0,
        "tflops": 204.3,
        "peak_tflops": 400.0,
        "pct_peak": 51.075,
    },
]
REPLICA = [
    {"model": "mlp", "batch": 1, "twin": "gpu", "device": "cuda:0", "in_replica_p50_ms": 0.082, "tflops": 0.98},
    {"model": "bert-base", "batch": 64, "twin": "gpu", "device": "cuda:0", "in_replica_p50_ms": 7.1, "tflops": 201.4},
]


def test_the_closing_table_and_fidelity_json(tmp_path: Path) -> None:
    _write(tmp_path, BARE, REPLICA)
    text, ok = gpu_checks.finish(tmp_path, {"embedded benchmarks": 0, "bare torch": 0}, 0.10)
    assert ok is True
    lines = text.splitlines()
    assert lines[0] == "steps: embedded benchmarks ok, bare torch ok"
    assert any(
        line.split()[:8] == ["bert-base", "64", "cuda", "eager", "7.00", "7.10", "1.01x", "yes"] for line in lines
    )
    assert any(line.split()[-2:] == ["201", "50%"] for line in lines), "replica TFLOP/s and % of the bare peak"
    assert lines[-2].startswith("headline bert-base b64 on NVIDIA H200: device p50 7 ms, 204.3 TFLOP/s, 51.1%")
    assert lines[-1] == "gpu_checks: PASS"
    doc = json.loads((tmp_path / "fidelity.json").read_text())
    assert doc["ok"] is True and len(doc["rows"]) == 2 and doc["steps"]["bare torch"] == 0


def test_a_failed_step_or_a_slow_replica_fails_the_run(tmp_path: Path) -> None:
    _write(tmp_path, BARE, REPLICA)
    text, ok = gpu_checks.finish(tmp_path, {"embedded benchmarks": 1, "bare torch": 0}, 0.10)
    assert ok is False and text.splitlines()[-1] == "gpu_checks: FAIL: failed steps embedded benchmarks (exit 1)"
    slow = [REPLICA[0], {**REPLICA[1], "in_replica_p50_ms": 8.0}]
    _write(tmp_path, BARE, slow)
    text, ok = gpu_checks.finish(tmp_path, {"bare torch": 0}, 0.10)
    assert ok is False and "fidelity: FAIL: 1 of 2 outside 10% of bare torch: bert-base b64 cuda 1.14x (eager)" in text


def test_no_benchmark_json_is_a_failure_with_the_reason(tmp_path: Path) -> None:
    _write(tmp_path, BARE, None)
    text, ok = gpu_checks.finish(tmp_path, {"embedded benchmarks": 3, "bare torch": 0}, 0.10)
    assert ok is False
    assert "fidelity: FAIL: no (model, batch, device) has both a bare-torch and an in-replica row" in text
    assert "  not compared: mlp b1 cuda: no in-replica row" in text
