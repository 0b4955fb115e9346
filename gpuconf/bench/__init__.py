"""GPU vs CPU inference benchmarks of MLService, and the suite's own time to verdict.

The pytest side lives in ``benchmarks/``; this package holds the logic it stands on, so that it
can be unit-tested without a cluster (``tests/test_bench.py``).

- :mod:`.profiles`      benchmark sizes from ``benchmarks/config.yaml``
- :mod:`.twins`         the benchmark's Serve config: GPU, CPU and no-op twins of MLService
- :mod:`.client`        HTTP calls to the twins through Serve's proxy
- :mod:`.runner`        deploy, probe and time the twins on a live cluster
- :mod:`.device_timing` forward timing with the device's time apart from Python's
- :mod:`.stats`         percentiles, mean, IQR, throughput, TFLOP/s
- :mod:`.results`       what one benchmark measured, shaped for the gate, the table and the plot
- :mod:`.gate`          the speedup gate (GPU p50 against CPU p50)
- :mod:`.fidelity`      in-replica timing against bare torch
- :mod:`.table`         the Markdown section of reports/summary.md
- :mod:`.plot`          reports/latency.png
- :mod:`.verdict_time`  one tier's command run as a user runs it, timed to its verdict
"""
