"""Time the benchmark's reference models with bare torch: no Ray, no Serve, no HTTP.

Run on a GPU runner beside ``make bench`` to state how much the in-replica measurement adds over
bare torch (the same model, seed, batch and timer; only the Serve replica around it differs)::

    python benchmarks/bare_torch.py --json reports/bare_torch.json --compare reports/benchmark.json

CUDA: CUDA events around each forward after warm-up, synchronised per forward (one request's
latency, as ``/bench`` measures it). CPU: perf_counter, with a fixed torch thread count.
Each (model, batch, device) runs ``--iters`` forwards at most and stops early once ``--budget-s``
is spent (never below ``--min-iters``), so a BERT-base batch-64 forward on CPU stays affordable.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable as a plain script from anywhere
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from entrypoints.models import build_model, enable_tf32  # noqa: E402
from gpuconf.bench.gate import Thresholds, TwinResult, load_thresholds, speedup_gate  # noqa: E402
from gpuconf.bench.stats import speedup, summarize, tflops  # noqa: E402

DEFAULT_MODELS = ("mlp", "bert-base")
DEFAULT_BATCHES = (1, 8, 64)


def time_model(
    name: str, batch: int, device: torch.device, iters: int, warmup: int, min_iters: int, budget_s: float
) -> dict[str, Any]:
    """Latency samples (ms) of one model at one batch size on one device, with its summary."""
    ref = build_model(name, 0)
    mod = ref.module.to(device)
    on_cuda = device.type == "cuda"
    samples: list[float] = []
    with torch.inference_mode():
        x = ref.make_input(batch, device)
        # Warm-up: `warmup` forwards, or fewer (at least one) once a quarter of the budget is spent.
        t_warm, done = time.perf_counter(), 0
        while done < max(1, warmup):
            mod(x)
            if on_cuda:
                torch.cuda.synchronize(device)
            done += 1
            if time.perf_counter() - t_warm > budget_s / 4:
                break
        # Cap the count by the budget, estimated from the warm-up (a slow forward runs fewer times).
        per = (time.perf_counter() - t_warm) / done
        n = max(min_iters, min(iters, math.floor(budget_s / per) if per > 0 else iters))
        for _ in range(n):
            if on_cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                mod(x)
                end.record()
                end.synchronize()
                samples.append(float(start.elapsed_time(end)))
            else:
                t0 = time.perf_counter()
                mod(x)
                samples.append((time.perf_counter() - t0) * 1e3)
    s = summarize(samples)
    return {
        "model": name,
        "batch": batch,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if on_cuda else platform.processor() or "cpu",
        "timer": "cuda_event" if on_cuda else "perf_counter",
        "torch_threads": torch.get_num_threads(),
        "warmup": done,
        **s.as_dict(),
        "samples_ms": samples,
        "tflops": tflops(ref.flops_per_sample, batch, s.p50_ms),
    }


def in_replica_p50(benchmark_json: Path) -> dict[tuple[str, int, str], float]:
    """``(model, batch, "cuda"|"cpu") -> in-replica p50 ms`` from a pytest-benchmark JSON of benchmarks/."""
    doc = json.loads(Path(benchmark_json).read_text())
    out: dict[tuple[str, int, str], float] = {}
    for b in doc.get("benchmarks", []):
        info = b.get("extra_info") or {}
        if "in_replica_p50_ms" in info:
            kind = "cuda" if str(info.get("device", "")).startswith("cuda") else "cpu"
            out[(info["model"], int(info["batch"]), kind)] = float(info["in_replica_p50_ms"])
    return out


def render(rows: Sequence[dict[str, Any]], replica: dict[tuple[str, int, str], float]) -> str:
    """A plain-text table: one line per (model, batch, device), speedup vs CPU, and what the replica adds."""
    cpu = {(r["model"], r["batch"]): r["p50_ms"] for r in rows if r["device"] == "cpu"}
    head = (
        f"{'model':<11}{'batch':>6}  {'device':<8}{'p50 ms':>10}{'p99 ms':>10}{'IQR ms':>9}{'TFLOP/s':>9}{'speedup':>9}"
    )
    head += f"{'replica p50':>13}{'added':>9}" if replica else ""
    lines = [head, "-" * len(head)]
    for r in rows:
        kind = "cuda" if r["device"].startswith("cuda") else "cpu"
        sp = (
            speedup(cpu[(r["model"], r["batch"])], r["p50_ms"])
            if kind == "cuda" and (r["model"], r["batch"]) in cpu
            else None
        )
        line = (
            f"{r['model']:<11}{r['batch']:>6}  {kind:<8}{r['p50_ms']:>10.4g}{r['p99_ms']:>10.4g}{r['iqr_ms']:>9.3g}"
            f"{r['tflops']:>9.3g}{(f'{sp:.1f}x' if sp else '-'):>9}"
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
    ap.add_argument("--json", type=Path, default=None, help="write every sample and summary here")
    ap.add_argument("--compare", type=Path, default=None, help="a benchmark.json of `make bench` to set beside")
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
    rows = []
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
                    )
                )
                print(f"  {name} b{batch} {dev}: p50 {rows[-1]['p50_ms']:.4g} ms (n={rows[-1]['n']})", file=sys.stderr)
    replica = in_replica_p50(args.compare) if args.compare else {}
    print(render(rows, replica))
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
        args.json.write_text(json.dumps({"host": host, "results": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
