"""Forward timing with the device's time apart from Python/launch overhead (CPU part; CUDA on a GPU host)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from gpuconf.bench.device_timing import (
    ForwardTiming,
    HostClock,
    clock_for,
    measured_peak_tflops,
    percent_of_peak,
    tflops,
    time_forwards,
)


@dataclass
class FakeClock:
    """A device that runs each call in a fixed time while the host waits longer (launch overhead)."""

    device_ms: float
    host_ms: float
    name: str = "fake"
    calls: list[int] = field(default_factory=list)

    def time(self, fn: Callable[[], Any]) -> tuple[float, float]:
        fn()
        self.calls.append(1)
        return self.device_ms, self.host_ms


def test_overhead_is_the_host_wait_beyond_the_device_time() -> None:
    clock = FakeClock(device_ms=0.10, host_ms=0.14)
    timing = time_forwards(lambda: None, "cuda:0", iters=5, warmup=2, clock=clock)
    s = timing.summary()
    assert len(clock.calls) == 7, "warm-up calls are made but not kept"
    assert s["n"] == 5 and s["device_p50_ms"] == pytest.approx(0.10) and s["host_p50_ms"] == pytest.approx(0.14)
    assert s["overhead_p50_ms"] == pytest.approx(0.04)
    assert s["overhead_share"] == pytest.approx(0.04 / 0.14)


def test_clock_jitter_never_reads_as_negative_overhead() -> None:
    timing = ForwardTiming("fake", False, [1.0, 1.0], [0.99, 1.2])
    assert timing.overhead_ms == [0.0, pytest.approx(0.2)]


def test_sample_counts_must_match() -> None:
    with pytest.raises(ValueError, match="as many device as host"):
        ForwardTiming("fake", False, [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="iters"):
        time_forwards(lambda: None, "cpu", iters=0)


def test_on_cpu_the_host_clock_times_a_real_forward() -> None:
    assert isinstance(clock_for(torch.device("cpu")), HostClock)
    timing = time_forwards(lambda: time.sleep(0.002), torch.device("cpu"), iters=3, warmup=1)
    s = timing.summary()
    assert s["clock"] == "perf_counter" and s["overhead_p50_ms"] == 0.0
    assert s["device_p50_ms"] >= 2.0, "a 2 ms sleep cannot time shorter"


def test_a_cuda_graph_is_not_claimed_off_cuda() -> None:
    x = torch.randn(8, 16)
    layer = torch.nn.Linear(16, 4)
    timing = time_forwards(lambda: layer(x), torch.device("cpu"), iters=2, graph=True)
    assert timing.graph is False and "not a CUDA device" in timing.note


class _FakeStream:
    def wait_stream(self, other: object) -> None:
        pass


@contextlib.contextmanager
def _nothing(*args: object, **kwargs: object) -> Iterator[None]:
    yield


@dataclass
class _Capture:
    """Stands in for torch.cuda's graph API on a host without CUDA: records what was captured."""

    capturing: bool = False
    replays: int = 0

    def graph_cls(self) -> Any:
        capture = self

        class Graph:
            def replay(self) -> None:
                capture.replays += 1

        return Graph

    @contextlib.contextmanager
    def graph(self, graph: object, *args: object, **kwargs: object) -> Iterator[None]:
        self.capturing = True
        try:
            yield
        finally:
            self.capturing = False


def _fake_cuda(monkeypatch: pytest.MonkeyPatch, capture: _Capture) -> None:
    monkeypatch.setattr(torch.cuda, "Stream", lambda *a, **k: _FakeStream())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda *a, **k: _FakeStream())
    monkeypatch.setattr(torch.cuda, "stream", _nothing)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", capture.graph_cls())
    monkeypatch.setattr(torch.cuda, "graph", capture.graph)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: None)


def test_a_captured_forward_is_replayed_not_relaunched(monkeypatch: pytest.MonkeyPatch) -> None:
    capture = _Capture()
    _fake_cuda(monkeypatch, capture)
    eager: list[int] = []
    timing = time_forwards(
        lambda: eager.append(1), "cuda:0", iters=4, warmup=1, graph=True, clock=FakeClock(0.05, 0.06)
    )
    assert timing.graph is True and timing.note == "CUDA graph replay"
    assert len(eager) == 3 + 1, "three warm-up forwards on the side stream, one captured"
    assert capture.replays == 1 + 4, "the warm-up and the timed calls replay the graph"


def test_a_failed_capture_falls_back_to_eager_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    capture = _Capture()
    _fake_cuda(monkeypatch, capture)
    eager: list[int] = []

    def forward() -> None:
        if capture.capturing:
            raise RuntimeError("operation not permitted when stream is capturing\n(details)")
        eager.append(1)

    timing = time_forwards(forward, "cuda:0", iters=4, warmup=1, graph=True, clock=FakeClock(0.05, 0.06))
    assert timing.graph is False and capture.replays == 0
    assert (
        timing.note == "no CUDA graph: capture failed (RuntimeError: operation not permitted when stream is capturing)"
    )
    assert len(eager) == 3 + 1 + 4, "after the failed capture every call is the eager forward"
    assert timing.summary()["device_p50_ms"] == pytest.approx(0.05)


def test_gpuconf_and_the_replica_share_one_implementation() -> None:
    from entrypoints import timing
    from gpuconf.bench import device_timing

    assert device_timing.time_forwards is timing.time_forwards
    assert device_timing.ForwardTiming is timing.ForwardTiming


def test_the_timing_module_travels_without_gpuconf(tmp_path: Path) -> None:
    """The replica's working_dir may be entrypoints/ alone: timing and models import with gpuconf blocked."""
    repo = Path(__file__).resolve().parents[1]
    code = (
        "import sys; sys.modules['gpuconf'] = None\n"  # any `import gpuconf...` now raises ImportError
        f"sys.path.insert(0, {str(repo / 'entrypoints')!r})\n"
        "import timing, models\n"
        "r = models.time_forward(models.build_model('mlp-smoke'), models.torch.device('cpu'), 2, 3, 1, graph=True)\n"
        "print(r['timer'], len(r['host_samples_ms']), r['graph'], r['graph_note'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "perf_counter 3 False no CUDA graph: not a CUDA device"


def test_tflops_and_percent_of_a_measured_peak() -> None:
    assert tflops(2e12, 1000.0) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        tflops(1.0, 0.0)
    peak = measured_peak_tflops(torch.device("cpu"), n=128, iters=3)
    assert peak["clock"] == "perf_counter" and peak["tflops"] > 0
    assert peak["tflops"] == pytest.approx(2 * 128**3 / (peak["best_ms"] * 1e-3) / 1e12)
    assert percent_of_peak(peak["tflops"] / 4, peak["tflops"]) == pytest.approx(25.0)
    with pytest.raises(ValueError):
        percent_of_peak(1.0, 0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this host")
def test_on_cuda_events_and_a_graph_time_the_same_forward() -> None:
    device = torch.device("cuda:0")
    x = torch.randn(64, 768, device=device)
    layer = torch.nn.Linear(768, 768).to(device)
    with torch.no_grad():
        eager = time_forwards(lambda: layer(x), device, iters=20)
        graphed = time_forwards(lambda: layer(x), device, iters=20, graph=True)
    assert eager.clock == "cuda_event" and graphed.graph is True
    assert all(d > 0 for d in eager.device_ms + graphed.device_ms)
