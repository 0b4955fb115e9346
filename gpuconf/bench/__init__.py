"""GPU vs CPU inference benchmarks of MLService: statistics, the twin Serve config, the speedup
gate, and the report (Markdown table and latency.png).

The pytest side lives in ``benchmarks/``; this package holds the logic it stands on, so that it
can be unit-tested without a cluster (``tests/test_bench.py``).
"""
