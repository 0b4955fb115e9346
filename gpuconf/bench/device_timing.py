"""Forward timing that keeps the device's time apart from Python and launch overhead.

The code lives in ``entrypoints.timing``, because the replica's ``/bench`` uses it and
``entrypoints/`` travels alone as a Ray working_dir; this module is its name on the gpuconf side
(``benchmarks/bare_torch.py`` and the reports), so both sides time a forward the same way.
"""

from __future__ import annotations

from entrypoints.timing import (
    Clock,
    CudaEventClock,
    ForwardTiming,
    HostClock,
    clock_for,
    graphed,
    measured_peak_tflops,
    percent_of_peak,
    tflops,
    time_forwards,
)

__all__ = [
    "Clock",
    "CudaEventClock",
    "ForwardTiming",
    "HostClock",
    "clock_for",
    "graphed",
    "measured_peak_tflops",
    "percent_of_peak",
    "tflops",
    "time_forwards",
]
