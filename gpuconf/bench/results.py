"""What one benchmark measured, shaped for the gate, the table and the picture."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuconf.bench.device_timing import ForwardTiming
from gpuconf.bench.stats import LatencySummary, summarize, tflops, throughput_per_s


@dataclass
class Measurement:
    """One twin serving one model at one batch size: in-replica samples, and end to end once measured."""

    model: str
    batch: int
    twin: str  # "gpu" or "cpu"
    device: str  # torch device the replica ran the model on
    device_name: str
    timer: str  # "cuda_event" or "perf_counter"
    torch_threads: int | None
    flops_per_sample: int
    samples_ms: list[float]  # the device's clock (CUDA events on a GPU)
    copy_samples_ms: list[float] = field(default_factory=list)
    e2e_samples_ms: list[float] = field(default_factory=list)
    # The host's wait (launch + synchronize) per forward, paired with samples_ms; [] from a replica
    # that does not report it.
    host_samples_ms: list[float] = field(default_factory=list)
    # The same forwards replayed as a CUDA graph (GPU twin only), and why not when there are none.
    graph_samples_ms: list[float] = field(default_factory=list)
    graph_host_samples_ms: list[float] = field(default_factory=list)
    graph_note: str = ""

    @property
    def in_replica(self) -> LatencySummary:
        """Model time inside the replica."""
        return summarize(self.samples_ms)

    @property
    def with_copies(self) -> LatencySummary | None:
        """Host→device→host round trip plus forward (CUDA only)."""
        return summarize(self.copy_samples_ms) if self.copy_samples_ms else None

    @property
    def e2e(self) -> LatencySummary | None:
        """What an HTTP client saw (None until the end-to-end rounds ran)."""
        return summarize(self.e2e_samples_ms) if self.e2e_samples_ms else None

    @property
    def timing(self) -> dict[str, float] | None:
        """Device, host and overhead p50s of the eager forwards (None without host samples)."""
        return _split(self.samples_ms, self.host_samples_ms)

    @property
    def graph_timing(self) -> dict[str, float] | None:
        """The same for the CUDA-graph replays (None when none ran)."""
        return _split(self.graph_samples_ms, self.graph_host_samples_ms)

    @property
    def on_cuda(self) -> bool:
        """The model ran on a CUDA device."""
        return self.device.startswith("cuda")

    @property
    def tflops(self) -> float:
        """Achieved TFLOP/s at the in-replica median."""
        return tflops(self.flops_per_sample, self.batch, self.in_replica.p50_ms)

    @property
    def throughput_per_s(self) -> float:
        """Samples per second in the replica, one request in flight."""
        return throughput_per_s(self.batch, self.in_replica.mean_ms)

    def extra_info(self) -> dict[str, Any]:
        """The in-replica figures for pytest-benchmark's extra_info (flat, JSON-ready)."""
        s = self.in_replica
        out: dict[str, Any] = {
            "model": self.model,
            "batch": self.batch,
            "twin": self.twin,
            "device": self.device,
            "device_name": self.device_name,
            "timer": self.timer,
            "torch_threads": self.torch_threads,
            "in_replica_n": s.n,
            "in_replica_p50_ms": s.p50_ms,
            "in_replica_p90_ms": s.p90_ms,
            "in_replica_p99_ms": s.p99_ms,
            "in_replica_mean_ms": s.mean_ms,
            "in_replica_iqr_ms": s.iqr_ms,
            "in_replica_throughput_per_s": self.throughput_per_s,
            "flops_per_sample": self.flops_per_sample,
            "tflops": self.tflops,
        }
        copies = self.with_copies
        if copies is not None:
            out.update({"with_copies_p50_ms": copies.p50_ms, "with_copies_p99_ms": copies.p99_ms})
        # in_replica_* is the device's clock; the host's wait and the overhead between them beside it.
        for prefix, split in (("", self.timing), ("graph_", self.graph_timing)):
            if split is not None:
                out.update({f"{prefix}{k}": v for k, v in split.items()})
        if self.graph_note:
            out["graph_note"] = self.graph_note
        return out


def _split(device_ms: list[float], host_ms: list[float]) -> dict[str, float] | None:
    if not device_ms or len(device_ms) != len(host_ms):
        return None
    s = ForwardTiming("", False, device_ms, host_ms).summary()
    return {k: s[k] for k in ("device_p50_ms", "host_p50_ms", "overhead_p50_ms", "overhead_share")}


@dataclass
class Overhead:
    """The no-op twin: Serve/HTTP time with no model behind it."""

    samples_ms: list[float]
    device_name: str = "-"

    @property
    def summary(self) -> LatencySummary:
        """End-to-end no-op latency."""
        return summarize(self.samples_ms)
