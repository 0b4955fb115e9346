"""GPU vs CPU inference latency benchmarks of MLService (pytest-benchmark); see test_latency.py."""
