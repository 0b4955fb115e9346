"""How faithfully the replica times a forward: in-replica against bare torch, per (model, batch, device).

Both sides time on the device's clock (CUDA events on a GPU). An eager forward's device time still
holds the gaps between kernels while the host launches the next one, so a small model's eager
figure moves with the host's Python speed; a CUDA graph replays the whole forward with one launch,
so where both sides have graph replays, those are compared: the forward itself. Elsewhere (the
CPU, a capture that failed) the eager device times are. The goal: a ratio within 10% of 1 for
every model and batch, sub-millisecond forwards included.

Beside it, the overhead split: what the host waited for an eager forward beyond the forward itself
(Python, kernel launches, synchronize; the replica's and bare torch's), and what Serve and HTTP
add beyond that (end-to-end p50 minus the replica's host p50). Achieved TFLOP/s and % of the
matmul peak bare torch measured on the same card come with each CUDA row.

Pure functions over plain rows: ``benchmarks/bare_torch.py``'s results and the ``extra_info`` of
the benchmark JSON that ``benchmarks/test_latency.py`` writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gpuconf.bench.stats import tflops as tflops_at
from gpuconf.bench.table import fmt_ms

DEFAULT_TOLERANCE = 0.10

Key = tuple[str, int, str]  # (model, batch, "cuda" | "cpu")


def device_kind(device: str) -> str:
    """``cuda`` for any CUDA device string, else ``cpu``."""
    return "cuda" if str(device).startswith("cuda") else "cpu"


def replica_rows(benchmark_doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The in-replica rows of a pytest-benchmark JSON: each latency benchmark's ``extra_info``, with
    its end-to-end p50 (``e2e_p50_ms``, from the rounds' median) when the rounds ran."""
    out = []
    for b in benchmark_doc.get("benchmarks", []):
        info = dict(b.get("extra_info") or {})
        if "in_replica_p50_ms" not in info:
            continue  # the no-op twin, the suite's own timings
        median_s = (b.get("stats") or {}).get("median")
        if median_s is not None:
            info["e2e_p50_ms"] = float(median_s) * 1e3
        out.append(info)
    return out


@dataclass(frozen=True)
class FidelityRow:
    """One (model, batch, device): the forward on the device's clock, bare and in the replica, and the overhead split."""

    model: str
    batch: int
    device: str  # "cuda" or "cpu"
    device_name: str
    clock: str  # "graph": CUDA-graph replays on both sides; "eager": eager forwards
    bare_device_p50_ms: float  # the forward on the device, on `clock`
    replica_device_p50_ms: float
    ratio: float  # replica / bare
    within: bool  # |ratio - 1| <= tolerance
    eager_ratio: float  # replica / bare of the eager device p50s (launch gaps included)
    bare_overhead_ms: float | None = None  # eager host p50 beyond the forward, bare torch
    replica_overhead_ms: float | None = None  # the same inside the replica
    serve_overhead_ms: float | None = None  # e2e p50 beyond the replica's eager host p50 (Serve + HTTP)
    tflops: float | None = None  # achieved in the replica, at its forward p50
    pct_peak: float | None = None  # of the matmul peak bare torch measured on the card
    note: str = ""


@dataclass
class FidelityReport:
    """Every compared row, what could not be compared, and the tolerance used."""

    rows: list[FidelityRow]
    unmatched: list[str] = field(default_factory=list)
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def ok(self) -> bool:
        """Something was compared and every row is within the tolerance."""
        return bool(self.rows) and all(r.within for r in self.rows)

    def outside(self) -> list[FidelityRow]:
        """The rows outside the tolerance."""
        return [r for r in self.rows if not r.within]

    def verdict(self) -> str:
        """One line: PASS, or FAIL with the rows outside (or nothing compared)."""
        pct = f"{self.tolerance * 100:g}%"
        if not self.rows:
            return "fidelity: FAIL: no (model, batch, device) has both a bare-torch and an in-replica row"
        bad = self.outside()
        if not bad:
            return (
                f"fidelity: PASS: {len(self.rows)} of {len(self.rows)} within {pct} of bare torch on the device's clock"
            )
        listed = ", ".join(f"{r.model} b{r.batch} {r.device} {r.ratio:.2f}x ({r.clock})" for r in bad)
        return f"fidelity: FAIL: {len(bad)} of {len(self.rows)} outside {pct} of bare torch: {listed}"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "tolerance": self.tolerance,
            "ok": self.ok,
            "verdict": self.verdict(),
            "rows": [asdict(r) for r in self.rows],
            "unmatched": list(self.unmatched),
        }


def _key(row: Mapping[str, Any]) -> Key:
    return (str(row["model"]), int(row["batch"]), device_kind(row["device"]))


def _index_replica(rows: Iterable[Mapping[str, Any]]) -> dict[Key, Mapping[str, Any]]:
    # A "GPU" twin that ran on the CPU shares its key with the CPU twin; the twin named for the
    # device it ran on is the one to compare.
    out: dict[Key, Mapping[str, Any]] = {}
    for r in rows:
        k = _key(r)
        if k not in out or str(r.get("twin")) == ("gpu" if k[2] == "cuda" else "cpu"):
            out[k] = r
    return out


def _opt(row: Mapping[str, Any], name: str) -> float | None:
    v = row.get(name)
    return None if v is None else float(v)


def _overhead(row: Mapping[str, Any], forward_ms: float) -> float | None:
    host = _opt(row, "host_p50_ms")
    # Clock jitter must not read as a negative overhead.
    return None if host is None else max(0.0, host - forward_ms)


def _replica_tflops(r: Mapping[str, Any], forward_ms: float, clock: str) -> float | None:
    if r.get("flops_per_sample"):
        return tflops_at(float(r["flops_per_sample"]), int(r["batch"]), forward_ms)
    # Without the FLOP count, the replica's own figure (at its eager p50) is all there is.
    return _opt(r, "tflops") if clock == "eager" else None


def compare_pair(b: Mapping[str, Any], r: Mapping[str, Any], tolerance: float = DEFAULT_TOLERANCE) -> FidelityRow:
    """Judge one bare-torch row ``b`` against the in-replica row ``r`` of the same (model, batch, device).

    ``b`` carries ``p50_ms`` (eager, device clock) and optionally ``host_p50_ms``,
    ``graph_device_p50_ms``, ``device_name`` and ``peak_tflops``; ``r`` is a benchmark
    ``extra_info`` (``in_replica_p50_ms``, eager, device clock; optionally ``host_p50_ms``,
    ``graph_device_p50_ms``, ``e2e_p50_ms``, ``flops_per_sample``, ``tflops``).
    """
    k = _key(b)
    bare_eager, rep_eager = float(b["p50_ms"]), float(r["in_replica_p50_ms"])
    bare_graph, rep_graph = _opt(b, "graph_device_p50_ms"), _opt(r, "graph_device_p50_ms")
    for what, x in (
        ("bare", bare_eager),
        ("replica", rep_eager),
        ("bare graph", bare_graph),
        ("replica graph", rep_graph),
    ):
        if x is not None and x <= 0:
            raise ValueError(f"{k}: latencies must be positive, got {what} {x} ms")
    notes = []
    if bare_graph is not None and rep_graph is not None:
        clock, bare_fwd, rep_fwd = "graph", bare_graph, rep_graph
    else:
        clock, bare_fwd, rep_fwd = "eager", bare_eager, rep_eager
        if (bare_graph is None) != (rep_graph is None):
            notes.append(f"graph replays on the {'bare' if rep_graph is None else 'replica'} side only")
    names = {str(b.get("device_name") or ""), str(r.get("device_name") or "")} - {""}
    if len(names) > 1:
        notes.append(f"not the same device: {' vs '.join(sorted(names))}")
    ratio = rep_fwd / bare_fwd
    rep_host, e2e = _opt(r, "host_p50_ms"), _opt(r, "e2e_p50_ms")
    achieved = _replica_tflops(r, rep_fwd, clock) if k[2] == "cuda" else None
    peak = _opt(b, "peak_tflops")
    return FidelityRow(
        model=k[0],
        batch=k[1],
        device=k[2],
        device_name=str(r.get("device_name") or b.get("device_name") or ""),
        clock=clock,
        bare_device_p50_ms=bare_fwd,
        replica_device_p50_ms=rep_fwd,
        ratio=ratio,
        within=abs(ratio - 1.0) <= tolerance,
        eager_ratio=rep_eager / bare_eager,
        bare_overhead_ms=_overhead(b, bare_fwd),
        replica_overhead_ms=_overhead(r, rep_fwd),
        # Serve + HTTP: what a client waited beyond the replica's own wait for the forward.
        serve_overhead_ms=(e2e - (rep_host if rep_host is not None else rep_eager)) if e2e is not None else None,
        tflops=achieved,
        pct_peak=100.0 * achieved / peak if achieved is not None and peak else None,
        note="; ".join(notes),
    )


def compare(
    bare: Sequence[Mapping[str, Any]],
    replica: Sequence[Mapping[str, Any]],
    tolerance: float = DEFAULT_TOLERANCE,
) -> FidelityReport:
    """Pair bare-torch rows with in-replica rows by (model, batch, device kind) and judge each pair
    (``compare_pair``); the keys found on one side only are listed as not compared."""
    if tolerance < 0:
        raise ValueError(f"a tolerance must be >= 0, got {tolerance}")
    by_bare = {_key(r): r for r in bare}
    by_replica = _index_replica(replica)
    rows = [compare_pair(b, by_replica[k], tolerance) for k, b in by_bare.items() if k in by_replica]
    unmatched = [f"{m} b{bt} {d}: no in-replica row" for (m, bt, d) in by_bare if (m, bt, d) not in by_replica]
    unmatched += [f"{m} b{bt} {d}: no bare-torch row" for (m, bt, d) in by_replica if (m, bt, d) not in by_bare]
    return FidelityReport(rows, unmatched, tolerance)


def _pct(x: float | None) -> str:
    return "-" if x is None else (f"{x:.0f}%" if x >= 10 else f"{x:.1f}%")


def render(report: FidelityReport) -> str:
    """A plain-text table, one line per compared row, then the verdict (and what was not compared)."""
    pct = f"{report.tolerance * 100:g}%"
    cols = [
        ("model", 11, "<"),
        ("batch", 6, ">"),
        ("device", 7, ">"),
        ("clock", 7, ">"),
        ("bare dev p50", 13, ">"),
        ("replica dev p50", 16, ">"),
        ("ratio", 7, ">"),
        (f"within {pct}", 11, ">"),
        ("overhead", 9, ">"),
        ("serve", 8, ">"),
        ("TFLOP/s", 8, ">"),
        ("% peak", 7, ">"),
    ]
    head = "".join(f"{name:{align}{width}}" for name, width, align in cols)
    lines = [head, "-" * len(head)]
    for r in report.rows:
        cells = [
            r.model,
            str(r.batch),
            r.device,
            r.clock,
            fmt_ms(r.bare_device_p50_ms),
            fmt_ms(r.replica_device_p50_ms),
            f"{r.ratio:.2f}x",
            "yes" if r.within else "NO",
            fmt_ms(r.replica_overhead_ms),
            fmt_ms(r.serve_overhead_ms),
            "-" if r.tflops is None else f"{r.tflops:.3g}",
            _pct(r.pct_peak),
        ]
        line = "".join(f"{c:{align}{width}}" for c, (_, width, align) in zip(cells, cols, strict=True))
        lines.append(line + (f"  ({r.note})" if r.note else ""))
    lines.append(
        "ms on the device's clock (graph: CUDA-graph replays on both sides, else eager forwards); "
        "overhead: the replica's eager host wait beyond that forward (Python, launches, sync); "
        "serve: the e2e p50 beyond that wait (Serve + HTTP)"
    )
    lines.append(report.verdict())
    lines += [f"  not compared: {u}" for u in report.unmatched]
    return "\n".join(lines)


def headline(bare: Sequence[Mapping[str, Any]], model: str = "bert-base", batch: int = 64) -> str:
    """The BERT-shape batch-64 line: achieved TFLOP/s on the card and % of its measured matmul peak."""
    row = next((r for r in bare if _key(r) == (model, batch, "cuda")), None)
    if row is None:
        return f"headline {model} b{batch}: no CUDA row (needs a GPU, and {model} at batch {batch} in the run)"
    peak, pct = row.get("peak_tflops"), row.get("pct_peak")
    of_peak = (
        f"{float(pct):.1f}% of the measured peak {float(peak):.4g} TFLOP/s"
        if peak and pct is not None
        else "peak not measured"
    )
    where = row.get("device_name") or row["device"]
    return (
        f"headline {model} b{batch} on {where}: device p50 {float(row['p50_ms']):.4g} ms, "
        f"{float(row['tflops']):.4g} TFLOP/s, {of_peak}"
    )
