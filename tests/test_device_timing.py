"""Forward timing with the device's time apart from Python/launch overhead (CPU part; CUDA on a GPU host)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
