"""Time the benchmark's reference models with bare torch: no Ray, no Serve, no HTTP.

Run on a GPU runner beside ``make bench`` to state how much the in-replica measurement adds over
bare torch (the same model, seed, batch and clocks; only the Serve replica around it differs)::

    python benchmarks/bare_torch.py --json reports/bare_torch.json --compare reports/benchmark.json

Each forward is timed as ``/bench`` times it (``entrypoints.timing``): on CUDA, CUDA events (the
device's time) and perf_counter around launch + synchronize (the host's), synchronised per forward
(one request's latency); the overhead between them is reported apart. On CUDA the same forwards
are also replayed as a CUDA graph, and the card's dense matmul peak is measured once, so each row
says its achieved TFLOP/s as a % of that peak (the headline: the BERT-shape batch 64). CPU:
perf_counter, with a fixed torch thread count. ``--compare`` sets the in-replica figures of a
benchmark JSON beside these and judges them (``gpuconf.bench.fidelity``: within 10% on the device
clock). Each (model, batch, device) runs ``--iters`` forwards at most and stops early once
``--budget-s`` is spent (never below ``--min-iters``), so a BERT-base batch-64 forward on CPU stays
affordable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable as a plain script from anywhere
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from entrypoints.models import build_model, enable_tf32  # noqa: E402
from gpuconf.bench import fidelity  # noqa: E402
from gpuconf.bench.device_timing import ForwardTiming, measured_peak_tflops, percent_of_peak, time_forwards  # noqa: E402
from gpuconf.bench.gate import Thresholds, TwinResult, load_thresholds, speedup_gate  # noqa: E402
from gpuconf.bench.stats import speedup, summarize, tflops  # noqa: E402
from gpuconf.bench.table import fmt_ms  # noqa: E402

DEFAULT_MODELS = ("mlp", "bert-base")
DEFAULT_BATCHES = (1, 8, 64)


def time_model(
    name: str,
    batch: int,
    device: torch.device,
    iters: int,
    warmup: int,
    min_iters: int,
    budget_s: float,
    graph: bool = True,
) -> dict[str, Any]:
    """Latency samples (ms) of one model at one batch size on one device, with their summary: the
    device's clock (``samples_ms``, ``p50_ms``...), the host's and the overhead between them, and on
    CUDA (with ``graph``) the same forwards replayed as a CUDA graph."""
    ref = build_model(name, 0)
    mod = ref.module.to(device)
    on_cuda = device.type == "cuda"
    dev_ctx = torch.cuda.device(device) if on_cuda else contextlib.nullcontext()
    with torch.inference_mode(), dev_ctx:
        x = ref.make_input(batch, device)

        def forward() -> Any:
            return mod(x)

        # Warm-up: `warmup` forwards, or fewer (at least one) once a quarter of the budget is spent.
        t_warm, done = time.perf_counter(), 0
        while done < max(1, warmup):
            forward()
            if on_cuda:
                torch.cuda.synchronize(device)
            done += 1
            if time.perf_counter() - t_warm > budget_s / 4:
                break
        # Cap the count by the budget, estimated from the warm-up (a slow forward runs fewer times).
        per = (time.perf_counter() - t_warm) / done
        n = max(min_iters, min(iters, math.floor(budget_s / per) if per > 0 else iters))
        eager = time_forwards(forward, device, iters=n, warmup=0)
        replay = time_forwards(forward, device, iters=n, warmup=2, graph=True) if on_cuda and graph else None
    s = summarize(eager.device_ms)
    row: dict[str, Any] = {
        "model": name,
        "batch": batch,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if on_cuda else platform.processor() or "cpu",
        "timer": eager.clock,
        "torch_threads": torch.get_num_threads(),
        "warmup": done,
        **s.as_dict(),
        **_split("", eager),
        "samples_ms": eager.device_ms,
        "host_samples_ms": eager.host_ms,
        "flops_per_sample": ref.flops_per_sample,
        "tflops": tflops(ref.flops_per_sample, batch, s.p50_ms),
        "graph": bool(replay and replay.graph),
        "graph_note": replay.note if replay else _no_graph(on_cuda),
    }
    if replay is not None and replay.graph:
        row.update(_split("graph_", replay))
        row["graph_samples_ms"] = replay.device_ms
        row["graph_tflops"] = tflops(ref.flops_per_sample, batch, row["graph_device_p50_ms"])
    return row


def _no_graph(on_cuda: bool) -> str:
    return "no CUDA graph: --no-graph" if on_cuda else "no CUDA graph: not a CUDA device"


def _split(prefix: str, timing: ForwardTiming) -> dict[str, float]:
    s = timing.summary()
    return {f"{prefix}{k}": s[k] for k in ("device_p50_ms", "host_p50_ms", "overhead_p50_ms", "overhead_share")}


def add_peak(rows: list[dict[str, Any]], peak: dict[str, Any]) -> None:
    """Each CUDA row's achieved TFLOP/s as a % of the card's measured matmul peak."""
    for r in rows:
        if r["device"].startswith("cuda"):
            r["peak_tflops"] = peak["tflops"]
            r["pct_peak"] = percent_of_peak(r["tflops"], peak["tflops"])


def in_replica_p50(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int, str], float]:
    """``(model, batch, "cuda"|"cpu") -> in-replica p50 ms`` from ``fidelity.replica_rows`` of a benchmark JSON."""
    return {
        (r["model"], int(r["batch"]), fidelity.device_kind(r.get("device", ""))): float(r["in_replica_p50_ms"])
        for r in rows
    }


def render(rows: Sequence[dict[str, Any]], replica: dict[tuple[str, int, str], float]) -> str:
    """A plain-text table: one line per (model, batch, device) with the device's p50 and the host's,
    the CUDA-graph p50, TFLOP/s and % of peak, speedup vs CPU, and what the replica adds."""
    cpu = {(r["model"], r["batch"]): r["p50_ms"] for r in rows if r["device"] == "cpu"}
    head = (
        f"{'model':<11}{'batch':>6}  {'device':<8}{'p50 ms':>10}{'p99 ms':>10}{'IQR ms':>9}{'host p50':>10}"
        f"{'graph p50':>11}{'TFLOP/s':>9}{'% peak':>8}{'speedup':>9}"
    )
    head += f"{'replica p50':>13}{'added':>9}" if replica else ""
    lines = [head, "-" * len(head)]
    for r in rows:
        kind = fidelity.device_kind(r["device"])
        sp = (
            speedup(cpu[(r["model"], r["batch"])], r["p50_ms"])
            if kind == "cuda" and (r["model"], r["batch"]) in cpu
            else None
        )
        pct = r.get("pct_peak")
        line = (
            f"{r['model']:<11}{r['batch']:>6}  {kind:<8}{r['p50_ms']:>10.4g}{r['p99_ms']:>10.4g}{r['iqr_ms']:>9.3g}"
            f"{fmt_ms(r.get('host_p50_ms')):>10}{fmt_ms(r.get('graph_device_p50_ms')):>11}"
            f"{r['tflops']:>9.3g}{('-' if pct is None else f'{pct:.0f}%'):>8}{(f'{sp:.1f}x' if sp else '-'):>9}"
        )
        if replica:
            rep = replica.get((r["model"], r["batch"], kind))
            added = f"{(rep / r['p50_ms'] - 1) * 100:+.0f}%" if rep else "-"
            line += f"{(f'{rep:.4g}' if rep else '-'):>13}{added:>9}"
        lines.append(line)
    return "\n".join(lines)


def gate_lines(rows: Sequence[dict[str, Any]], thresholds: Thresholds) -> str:
    """The speedup gate's decision for each (model, batch) with both a CPU and a CUDA row."""
    cpu = {(r["model"], r["batch"]): r for r in rows if r["device"] == "cpu"}
    out = []
    for r in rows:
        c = cpu.get((r["model"], r["batch"]))
        if not r["device"].startswith("cuda") or c is None:
            continue
        d = speedup_gate(
            r["model"],
            r["batch"],
            TwinResult(r["device"], r["device_name"], r["p50_ms"], True),
            TwinResult("cpu", "cpu", c["p50_ms"], False),
            thresholds,
            host_gpus=1,
        )
        out.append(f"gate {r['model']} b{r['batch']}: {d.outcome.upper()} {d.reason}")
    return "\n".join(out) or "gate: no (model, batch) has both a CPU and a CUDA row"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=list(DEFAULT_BATCHES))
    ap.add_argument(
        "--devices", nargs="+", default=None, help="cpu and/or cuda (default: cpu, plus cuda when available)"
    )
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--min-iters", type=int, default=5)
    ap.add_argument("--budget-s", type=float, default=20.0, help="time budget per (model, batch, device)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    ap.add_argument("--no-tf32", action="store_true", help="keep fp32 matmuls on CUDA (MLService enables tf32)")
    ap.add_argument("--no-graph", action="store_true", help="on CUDA, skip the CUDA-graph replays")
    ap.add_argument("--peak-n", type=int, default=8192, help="n of the n×n matmul whose rate is the peak (CUDA)")
    ap.add_argument("--no-peak", action="store_true", help="on CUDA, do not measure the matmul peak")
    ap.add_argument("--json", type=Path, default=None, help="write every sample and summary here")
    ap.add_argument(
        "--compare",
        type=Path,
        default=None,
        help="a benchmark.json of `make bench`: set its in-replica figures beside these and judge them",
    )
    ap.add_argument(
        "--tolerance",
        type=float,
        default=fidelity.DEFAULT_TOLERANCE,
        help="in-replica/bare ratio allowed on the device clock, as a fraction (default 0.10)",
    )
    ap.add_argument(
        "--gate",
        type=Path,
        default=None,
        help="thresholds.yaml: also say what the speedup gate would decide on these bare numbers",
    )
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    if "cuda" in devices and not torch.cuda.is_available():
        ap.error("--devices cuda: torch sees no CUDA device")
    if "cuda" in devices and not args.no_tf32:
        enable_tf32()  # as MLService does on CUDA, so the numbers compare
    # The peak first: on the same card, dtype and TF32 setting as the models' forwards.
    peak = (
        measured_peak_tflops(torch.device("cuda:0"), n=args.peak_n) if "cuda" in devices and not args.no_peak else None
    )
    if peak:
        print(f"  measured peak: {peak['tflops']:.4g} TFLOP/s ({peak['n']}² matmul, {peak['dtype']})", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    for name in args.models:
        for batch in args.batches:
            for dev in devices:
                rows.append(
                    time_model(
                        name,
                        batch,
                        torch.device("cuda:0" if dev == "cuda" else dev),
                        args.iters,
                        args.warmup,
                        args.min_iters,
                        args.budget_s,
                        graph=not args.no_graph,
                    )
                )
                print(f"  {name} b{batch} {dev}: p50 {rows[-1]['p50_ms']:.4g} ms (n={rows[-1]['n']})", file=sys.stderr)
    if peak:
        add_peak(rows, peak)
    # The benchmark JSON is read once: its replica rows feed both the table and the fidelity report.
    replica_rows = fidelity.replica_rows(json.loads(args.compare.read_text())) if args.compare else []
    print(render(rows, in_replica_p50(replica_rows)))
    print(fidelity.headline(rows))
    report = None
    if args.compare:
        report = fidelity.compare(rows, replica_rows, tolerance=args.tolerance)
        print()
        print(fidelity.render(report))
    if args.gate:
        print()
        print(gate_lines(rows, load_thresholds(args.gate)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        host = {
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            "python": platform.python_version(),
        }
        doc: dict[str, Any] = {"host": host, "peak": peak, "results": rows}
        if report is not None:
            doc["fidelity"] = report.as_dict()
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
