"""Latency statistics as performance engineers read them: percentiles, mean, IQR, throughput, TFLOP/s.

Percentiles are entrypoints.stats.percentile, the one definition the replicas use too (linear
interpolation, numpy's default method).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from entrypoints.stats import percentile

__all__ = ["LatencySummary", "percentile", "speedup", "summarize", "tflops", "throughput_per_s"]


@dataclass(frozen=True)
class LatencySummary:
    """Summary of latency samples, in milliseconds."""

    n: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    iqr_ms: float
    min_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON, benchmark extra_info)."""
        return asdict(self)


def summarize(samples_ms: Sequence[float]) -> LatencySummary:
    """p50/p90/p99, mean, interquartile range, min and max of millisecond samples."""
    if not samples_ms:
        raise ValueError("no latency samples to summarize")
    xs = [float(x) for x in samples_ms]
    return LatencySummary(
        n=len(xs),
        p50_ms=percentile(xs, 50),
        p90_ms=percentile(xs, 90),
        p99_ms=percentile(xs, 99),
        mean_ms=sum(xs) / len(xs),
        iqr_ms=percentile(xs, 75) - percentile(xs, 25),
        min_ms=min(xs),
        max_ms=max(xs),
    )


def throughput_per_s(batch: int, mean_ms: float) -> float:
    """Samples per second with one request in flight: ``batch`` samples every ``mean_ms``.

    The mean (not the median) is used because throughput is total work over total time.
    """
    if mean_ms <= 0:
        raise ValueError(f"latency must be positive, got {mean_ms}")
    return batch * 1e3 / mean_ms


def tflops(flops_per_sample: int | float, batch: int, latency_ms: float) -> float:
    """Achieved TFLOP/s of one forward of ``batch`` samples that took ``latency_ms``."""
    if latency_ms <= 0:
        raise ValueError(f"latency must be positive, got {latency_ms}")
    return float(flops_per_sample) * batch / (latency_ms / 1e3) / 1e12


def speedup(cpu_ms: float, gpu_ms: float) -> float:
    """How many times faster the GPU is: ``cpu_ms / gpu_ms``."""
    if gpu_ms <= 0:
        raise ValueError(f"GPU latency must be positive, got {gpu_ms}")
    return cpu_ms / gpu_ms
