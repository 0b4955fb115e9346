"""Forward timing that keeps the device's time apart from Python and launch overhead.

On CUDA each forward is timed twice: CUDA events around it on the stream (the device's time) and
perf_counter around launch + synchronize (what the host waits). Their difference is the Python
and kernel-launch overhead, which dominates sub-millisecond forwards; a CUDA graph replays the
whole forward with one launch, so ``graph=True`` shows what is left without it. On CPU both
clocks are perf_counter (there is no separate device time; the overhead reads 0).

Also: the achieved TFLOP/s of a forward and the device's measured matmul peak, so a report can
say "% of measured peak" (the BERT-shape batch 64 on a GPU). Torch is imported only when used.

Shipped with ``entrypoints/`` as a Ray working_dir (the replica's ``/bench`` times with it), so it
imports nothing beyond the standard library and torch; ``gpuconf.bench.device_timing`` re-exports it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Clock(Protocol):
    """Times one call on a device: ``(device_ms, host_ms)``."""

    name: str

    def time(self, fn: Callable[[], Any]) -> tuple[float, float]:
        """Run ``fn`` once; its device time and the host's wall time, both in ms."""
        ...


@dataclass
class HostClock:
    """perf_counter around the call: on CPU the device time is the host's."""

    name: str = "perf_counter"

    def time(self, fn: Callable[[], Any]) -> tuple[float, float]:
        """See Clock.time."""
        t0 = time.perf_counter()
        fn()
        ms = (time.perf_counter() - t0) * 1e3
        return ms, ms


@dataclass
class CudaEventClock:
    """CUDA events on the current stream for the device's time, perf_counter for the host's."""

    device: Any
    name: str = "cuda_event"

    def time(self, fn: Callable[[], Any]) -> tuple[float, float]:
        """See Clock.time (synchronizes before and after, so calls do not overlap)."""
        import torch

        torch.cuda.synchronize(self.device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        t0 = time.perf_counter()
        start.record()
        fn()
        end.record()
        end.synchronize()
        host = (time.perf_counter() - t0) * 1e3
        return float(start.elapsed_time(end)), host


@dataclass
class ForwardTiming:
    """Per-forward device and host times of one model and batch."""

    clock: str
    graph: bool
    device_ms: list[float]
    host_ms: list[float]
    note: str = ""
    overhead_ms: list[float] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.device_ms) != len(self.host_ms) or not self.device_ms:
            raise ValueError(
                f"need as many device as host samples, and some: {len(self.device_ms)}, {len(self.host_ms)}"
            )
        # The host waits at least as long as the device ran; clock jitter must not read negative.
        self.overhead_ms = [max(0.0, h - d) for d, h in zip(self.device_ms, self.host_ms, strict=True)]

    def summary(self) -> dict[str, Any]:
        """p50s in ms and the overhead's share of the host time."""
        device, host, over = (statistics.median(x) for x in (self.device_ms, self.host_ms, self.overhead_ms))
        return {
            "clock": self.clock,
            "graph": self.graph,
            "n": len(self.device_ms),
            "device_p50_ms": device,
            "host_p50_ms": host,
            "overhead_p50_ms": over,
            "overhead_share": over / host if host > 0 else 0.0,
            "note": self.note,
        }


def clock_for(device: Any) -> Clock:
    """CudaEventClock on a CUDA device, else HostClock."""
    return CudaEventClock(device) if getattr(device, "type", str(device)).startswith("cuda") else HostClock()


def graphed(fn: Callable[[], Any], device: Any, warmup: int = 3) -> tuple[Callable[[], Any], str]:
    """``fn`` captured as a CUDA graph and a replay callable, with a note; ``(fn, why not)`` off CUDA
    or when the capture fails.

    Capture runs on a side stream after warm-up (as torch's docs require); the inputs ``fn`` closes
    over must stay the same tensors, which is how /bench calls its model.
    """
    if not getattr(device, "type", str(device)).startswith("cuda"):
        return fn, "no CUDA graph: not a CUDA device"
    import torch

    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            fn()
    except RuntimeError as exc:
        # A forward that cannot be captured (a host sync, a dynamic shape) is timed eagerly, and
        # the answer says why, rather than failing the whole measurement.
        torch.cuda.synchronize(device)
        first = (str(exc).splitlines() or [""])[0][:200]
        return fn, f"no CUDA graph: capture failed ({type(exc).__name__}: {first})"
    return graph.replay, "CUDA graph replay"


def time_forwards(
    fn: Callable[[], Any], device: Any, iters: int, warmup: int = 2, graph: bool = False, clock: Clock | None = None
) -> ForwardTiming:
    """Time ``iters`` calls of ``fn`` (after ``warmup``) on ``device``, eagerly or as a CUDA graph."""
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    note = ""
    call = fn
    if graph:
        call, note = graphed(fn, device)
    clock = clock or clock_for(device)
    for _ in range(warmup):
        clock.time(call)
    pairs = [clock.time(call) for _ in range(iters)]
    used_graph = graph and call is not fn
    return ForwardTiming(clock.name, used_graph, [d for d, _ in pairs], [h for _, h in pairs], note)


def tflops(flops: float, ms: float) -> float:
    """Achieved TFLOP/s of ``flops`` done in ``ms`` milliseconds."""
    if ms <= 0:
        raise ValueError(f"a duration must be positive, got {ms} ms")
    return flops / (ms * 1e-3) / 1e12


def measured_peak_tflops(device: Any, n: int = 8192, dtype: Any = None, iters: int = 10) -> dict[str, Any]:
    """The device's dense matmul rate: the best of ``iters`` ``n×n @ n×n`` products (2·n³ FLOPs each).

    The reference for "% of peak" is measured on the same card and dtype, not a datasheet figure
    (clocks, power limits and TF32 settings differ between hosts).
    """
    import torch

    dtype = dtype or torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    timing = time_forwards(lambda: torch.mm(a, b), device, iters=iters, warmup=2)
    best = min(timing.device_ms)
    return {"n": n, "dtype": str(dtype), "clock": timing.clock, "best_ms": best, "tflops": tflops(2.0 * n**3, best)}


def percent_of_peak(achieved_tflops: float, peak_tflops: float) -> float:
    """``achieved`` as a percentage of ``peak``."""
    if peak_tflops <= 0:
        raise ValueError(f"a peak must be positive, got {peak_tflops}")
    return 100.0 * achieved_tflops / peak_tflops
