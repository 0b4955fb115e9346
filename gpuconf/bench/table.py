"""The benchmark's Markdown section for reports/summary.md: model time, end to end, Serve overhead."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gpuconf.bench.gate import GateDecision
from gpuconf.bench.results import Measurement, Overhead
from gpuconf.bench.stats import speedup


def fmt_ms(x: float | None) -> str:
    """Milliseconds with about three significant digits, never in exponent form."""
    if x is None:
        return "-"
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a >= 0.01:
        return f"{x:.3f}"
    return f"{x:.4f}"


def fmt_x(x: float | None) -> str:
    """A speedup factor: ``12.3x``."""
    return "-" if x is None else (f"{x:.0f}x" if x >= 100 else f"{x:.1f}x")


def _gate_cell(d: GateDecision | None, notes: list[str]) -> str:
    """PASS/FAIL/SKIP with a numbered note: the reasons repeat across rows, so each is written once below."""
    if d is None:
        return "not run"
    if d.outcome == "pass":
        return f"PASS (>= {d.required:g}x)"
    if d.reason not in notes:
        notes.append(d.reason)
    return f"{d.outcome.upper()} [{notes.index(d.reason) + 1}]"


def _cell(text: str, limit: int) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pairs(results: Iterable[Measurement]) -> list[tuple[str, int, Measurement | None, Measurement | None]]:
    by_key: dict[tuple[str, int], dict[str, Measurement]] = {}
    for m in results:
        by_key.setdefault((m.model, m.batch), {})[m.twin] = m
    return [(model, batch, d.get("cpu"), d.get("gpu")) for (model, batch), d in by_key.items()]


def _speedup_cell(sp: float | None, gpu: Measurement | None) -> str:
    # CPU against a "GPU" twin that ran on the CPU is no GPU speedup: say so beside the number.
    return fmt_x(sp) + (" (cpu/cpu)" if sp is not None and gpu is not None and not gpu.on_cuda else "")


def _gpu_label(gpu: Measurement | None) -> str:
    return "" if gpu is None or gpu.on_cuda else " (on cpu)"


def _clocks_table(gpus: list[Measurement]) -> list[str]:
    """The GPU twin's device time beside the host's wait and the CUDA-graph replays (CUDA only)."""
    rows = [(m, m.timing) for m in gpus if m.timing is not None]
    if not rows:
        return []
    lines = [
        "",
        "GPU twin, device time (CUDA events) vs host time (launch + synchronize) and CUDA-graph replays, p50 ms:",
        "",
        "| model | batch | device | host | overhead (share) | graph device | graph host |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m, t in rows:
        g = m.graph_timing
        graph = (fmt_ms(g["device_p50_ms"]), fmt_ms(g["host_p50_ms"])) if g else (_cell(m.graph_note or "-", 80), "-")
        lines.append(
            f"| {m.model} | {m.batch} | {fmt_ms(t['device_p50_ms'])} | {fmt_ms(t['host_p50_ms'])} "
            f"| {fmt_ms(t['overhead_p50_ms'])} ({t['overhead_share']:.0%}) | {graph[0]} | {graph[1]} |"
        )
    return lines


def render(
    results: list[Measurement],
    overhead: Overhead | None,
    gates: dict[tuple[str, int], GateDecision],
    context: dict[str, Any],
) -> str:
    """The Markdown section: context lines, then model-time and end-to-end tables."""
    profile = context.get("profile", "?")
    lines = [f"## Benchmarks: GPU vs CPU inference latency (profile `{profile}`)", ""]
    for key in ("gpu_twin", "cpu_twin", "versions"):
        if context.get(key):
            lines.append(f"- {context[key]}")
    if overhead is not None and overhead.samples_ms:
        s = overhead.summary
        lines.append(
            f"- Serve/HTTP overhead (no-op twin, `GET /noop`): p50 {fmt_ms(s.p50_ms)} ms, "
            f"p99 {fmt_ms(s.p99_ms)} ms (n={s.n})"
        )
    lines += [
        "",
        "Model time inside the replica (`/bench`: CUDA events on GPU, perf_counter on CPU), ms:",
        "",
        "| model | batch | CPU p50 | CPU p99 | GPU p50 | GPU p99 | speedup (p50) | GPU TFLOP/s | GPU p50 with copies | gate |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    pairs = _pairs(results)
    notes: list[str] = []
    for model, batch, cpu, gpu in pairs:
        cs, gs = (cpu.in_replica if cpu else None), (gpu.in_replica if gpu else None)
        sp = speedup(cs.p50_ms, gs.p50_ms) if cs and gs else None
        copies = gpu.with_copies if gpu else None
        lines.append(
            f"| {model} | {batch} | {fmt_ms(cs.p50_ms if cs else None)} | {fmt_ms(cs.p99_ms if cs else None)} "
            f"| {fmt_ms(gs.p50_ms if gs else None)}{_gpu_label(gpu)} | {fmt_ms(gs.p99_ms if gs else None)} "
            f"| {_speedup_cell(sp, gpu)} | {f'{gpu.tflops:.3g}' if gpu and gpu.on_cuda else '-'} "
            f"| {fmt_ms(copies.p50_ms if copies else None)} | {_gate_cell(gates.get((model, batch)), notes)} |"
        )
    if notes:
        lines += [""] + [f"[{i}] {_cell(n, 400)}" for i, n in enumerate(notes, 1)]
    lines += _clocks_table([gpu for _, _, _, gpu in pairs if gpu is not None and gpu.on_cuda])
    lines += [
        "",
        "End to end through Serve HTTP (`POST /infer`, pytest-benchmark rounds), ms; overhead = e2e p50 - model p50:",
        "",
        "| model | batch | CPU e2e p50 | CPU e2e p99 | GPU e2e p50 | GPU e2e p99 | e2e speedup (p50) | overhead CPU | overhead GPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model, batch, cpu, gpu in pairs:
        ce, ge = (cpu.e2e if cpu else None), (gpu.e2e if gpu else None)
        sp = speedup(ce.p50_ms, ge.p50_ms) if ce and ge else None
        oc = ce.p50_ms - cpu.in_replica.p50_ms if ce and cpu else None
        og = ge.p50_ms - gpu.in_replica.p50_ms if ge and gpu else None
        lines.append(
            f"| {model} | {batch} | {fmt_ms(ce.p50_ms if ce else None)} | {fmt_ms(ce.p99_ms if ce else None)} "
            f"| {fmt_ms(ge.p50_ms if ge else None)}{_gpu_label(gpu)} | {fmt_ms(ge.p99_ms if ge else None)} "
            f"| {_speedup_cell(sp, gpu)} | {fmt_ms(oc)} | {fmt_ms(og)} |"
        )
    if context.get("picture"):
        lines += ["", f"Latency distributions: `{context['picture']}`"]
    return "\n".join(lines) + "\n"
