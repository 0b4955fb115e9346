"""GPU vs CPU inference latency of MLService: model time in the replica, end to end through Serve
HTTP, Serve's own overhead, and the speedup gate.

Ids name the model family, batch and twin (``test_latency[transformer-b64-gpu]``); the concrete
model of the run's profile (``bert-smoke`` or ``bert-base``) is in the benchmark's name, group and
extra_info, so baselines of different sizes never compare with each other.
"""

from __future__ import annotations

from typing import Any

import pytest

from gpuconf.bench import plot, table
from gpuconf.bench.gate import Thresholds, TwinResult, decision_evidence, speedup_gate
from gpuconf.bench.profiles import load_config
from gpuconf.bench.results import Overhead
from gpuconf.bench.runner import BenchRunner
from gpuconf.live.settings import Settings
from gpuconf.testing.evidence import Evidence
from gpuconf.testing.plugin import collector_of

from .conftest import CONFIG_PATH

pytestmark = pytest.mark.ray

_CONFIG = load_config(CONFIG_PATH)  # batches and model families must be known at collection
LATENCY_CASES = [
    pytest.param(f, b, t, id=f"{f}-b{b}-{t}") for f in _CONFIG.families for b in _CONFIG.batches for t in ("gpu", "cpu")
]
GATE_CASES = [pytest.param(f, b, id=f"{f}-b{b}") for f in _CONFIG.families for b in _CONFIG.batches]


def _rename(benchmark: Any, concrete: str) -> None:
    # pytest-benchmark matches baselines by fullname: put the concrete model in it, so that a
    # smoke run is never compared with a realistic baseline.
    benchmark.param = concrete
    benchmark.name = f"{benchmark.name.split('[')[0]}[{concrete}]"
    benchmark.fullname = f"{benchmark.fullname.split('[')[0]}[{concrete}]"


def _common_info(bench: BenchRunner) -> dict[str, Any]:
    v = bench.versions()
    return {
        "profile": bench.profile.name,
        "driver": v["driver"],
        "torch": v["torch"],
        "cuda": v["cuda"],
        "ray": v["ray"],
        "cpu_twin_group": bench.host.group,
    }


def test_serve_overhead(bench: BenchRunner, benchmark: Any, evidence: Evidence) -> None:
    """The no-op twin through Serve HTTP: what a request costs with no model behind it."""
    bench.ensure(bench.profile.models[_CONFIG.families[0]])
    budget = bench.profile.noop
    call = bench.client("noop").noop_call()
    call()  # the first request through a new route pays for the proxy's route lookup
    rounds, warmup = budget.plan(25.0)  # Serve HTTP is ~10-25 ms on a busy 2-core runner (design.md)
    benchmark.group = "serve overhead (no-op)"
    _rename(benchmark, "noop")
    benchmark.pedantic(call, rounds=rounds, iterations=1, warmup_rounds=warmup)
    samples = [d * 1e3 for d in benchmark.stats.stats.data] if benchmark.stats else []
    if not samples:
        pytest.skip("--benchmark-disable: the no-op ran once, untimed")
    bench.overhead = Overhead(samples)
    s = bench.overhead.summary
    benchmark.extra_info.update(
        {**_common_info(bench), "twin": "noop", "where": bench.where("noop"), "p50_ms": s.p50_ms, "p99_ms": s.p99_ms}
    )
    evidence.add("summary", f"no-op Serve HTTP p50 {s.p50_ms:.2f} ms, p99 {s.p99_ms:.2f} ms, n={s.n}")
    evidence.add("p50_ms", round(s.p50_ms, 3))


@pytest.mark.parametrize("family, batch, twin", LATENCY_CASES)
def test_latency(bench: BenchRunner, benchmark: Any, family: str, batch: int, twin: str, evidence: Evidence) -> None:
    """One twin, one model, one batch: in-replica percentiles, then end-to-end rounds via POST /infer."""
    model = bench.profile.models[family]
    m = bench.in_replica(model, batch, twin)
    evidence.add("device", f"{m.device} ({m.device_name})")
    evidence.add("p50_ms", round(m.in_replica.p50_ms, 4))
    if twin == "cpu":
        assert m.device == "cpu", f"the CPU twin ran on {m.device}"
        assert m.torch_threads == bench.torch_threads, (
            f"the CPU twin runs {m.torch_threads} torch threads, configured {bench.torch_threads}"
        )

    rounds, warmup = bench.e2e_plan(m)
    benchmark.group = f"{model} batch {batch}"
    _rename(benchmark, f"{model}-b{batch}-{twin}")
    benchmark.pedantic(
        bench.client(twin).infer_call(batch, bench.e2e_timeout_s(m)), rounds=rounds, iterations=1, warmup_rounds=warmup
    )
    m.e2e_samples_ms = [d * 1e3 for d in benchmark.stats.stats.data] if benchmark.stats else []
    benchmark.extra_info.update({**_common_info(bench), **m.extra_info(), "where": bench.where(twin)})
    e2e = m.e2e
    evidence.add(
        "summary",
        f"{model} b{batch} on {m.device}: model p50 {m.in_replica.p50_ms:.4g} ms"
        + (f", e2e p50 {e2e.p50_ms:.4g} ms" if e2e else ""),
    )
    assert all(x > 0 for x in m.samples_ms), "in-replica samples must be positive durations"


@pytest.mark.conformance  # a skipped gate fails under --strict, like every conformance check
@pytest.mark.parametrize("family, batch", GATE_CASES)
def test_speedup_gate(
    bench: BenchRunner,
    bench_thresholds: Thresholds,
    family: str,
    batch: int,
    gpuconf_settings: Settings,
    evidence: Evidence,
) -> None:
    """The GPU twin's in-replica p50 beats the CPU twin's by the factor in benchmarks/thresholds.yaml."""
    model = bench.profile.models[family]
    gpu, cpu = bench.in_replica(model, batch, "gpu"), bench.in_replica(model, batch, "cpu")
    decision = speedup_gate(
        model,
        batch,
        TwinResult(gpu.device, gpu.device_name, gpu.in_replica.p50_ms, bench.gpu_twin_physical()),
        TwinResult(cpu.device, cpu.device_name, cpu.in_replica.p50_ms, False),
        bench_thresholds,
        bench.host_gpus,
        gpuconf_settings.require_cuda,
    )
    bench.gates[(model, batch)] = decision
    evidence.add("summary", f"{decision.outcome}: {decision.reason}")
    evidence.add("gate", decision_evidence(decision))
    if decision.outcome == "skip":
        pytest.skip(decision.reason)
    assert decision.outcome == "pass", decision.reason


def test_latency_report(
    bench: BenchRunner, gpuconf_settings: Settings, pytestconfig: pytest.Config, evidence: Evidence
) -> None:
    """The numbers as a Markdown table in summary.md, and latency.png in the report folder."""
    results = [m for m in bench.measurements.values()]
    assert results, "nothing was measured (were the latency tests deselected?)"
    picture = gpuconf_settings.report_dir / "latency.png"
    title = f"MLService latency, CPU twin vs GPU twin (profile {bench.profile.name})\n{bench.context()['versions']}"
    plot.plot_latency(results, bench.overhead, picture, title)
    markdown = table.render(results, bench.overhead, bench.gates, {**bench.context(), "picture": str(picture)})
    collector_of(pytestconfig).sections.append(markdown)
    evidence.add("picture", str(picture))
    evidence.add("summary", f"{len(results)} measurements; table in summary.md, picture {picture}")
    assert picture.stat().st_size > 10_000, f"{picture} is suspiciously small"
    for m in results:
        assert f"| {m.model} | {m.batch} |" in markdown
