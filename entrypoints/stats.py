"""The one percentile definition of the project, shared by the replicas and the benchmark reports.

Linear interpolation between order statistics (numpy's default method): ``percentile(xs, 99)``
is what ``numpy.percentile(xs, 99)`` gives for the same samples. Shipped with ``entrypoints/``
as a Ray working_dir, so it imports nothing beyond the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of ``samples``, linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    s = sorted(float(x) for x in samples)
    h = (len(s) - 1) * q / 100.0
    lo = math.floor(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])
