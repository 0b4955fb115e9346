"""Unit tests of gpuconf.bench: statistics, profiles, the twin Serve config, the speedup gate,
the Markdown table, the picture, and benchmarks/bare_torch.py (no cluster needed)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from gpuconf.bench import gate, plot, profiles, stats, table, twins
from gpuconf.bench.results import Measurement, Overhead
from gpuconf.inputs.manifests import plain
from gpuconf.model.raysched import RayNodeView, demands_from_serve, node_misfit
from gpuconf.static.check import run_check

REPO = Path(__file__).resolve().parents[1]
MLP_FLOPS = 2 * (1024 * 4096 + 4096 * 4096 + 4096 * 1000)  # entrypoints/models.py's "mlp"


# ---------------------------------------------------------------------------------------------
# stats


@pytest.fixture(scope="module")
def lognormal() -> list[float]:
    # Latency-like data: skewed, with a long tail.
    return list(np.random.default_rng(7).lognormal(mean=1.0, sigma=0.6, size=997))


@pytest.mark.parametrize("q", [0, 1, 25, 50, 75, 90, 99, 99.9, 100])
def test_percentile_matches_numpy(lognormal: list[float], q: float) -> None:
    assert stats.percentile(lognormal, q) == pytest.approx(float(np.percentile(lognormal, q)), rel=1e-12)


def test_summary_matches_numpy(lognormal: list[float]) -> None:
    s = stats.summarize(lognormal)
    a = np.asarray(lognormal)
    assert s.n == 997
    assert s.p50_ms == pytest.approx(np.percentile(a, 50))
    assert s.p90_ms == pytest.approx(np.percentile(a, 90))
    assert s.p99_ms == pytest.approx(np.percentile(a, 99))
    assert s.mean_ms == pytest.approx(a.mean())
    assert s.iqr_ms == pytest.approx(np.percentile(a, 75) - np.percentile(a, 25))
    assert (s.min_ms, s.max_ms) == (a.min(), a.max())


def test_summary_of_small_known_data() -> None:
    s = stats.summarize([4.0, 1.0, 3.0, 2.0])
    assert (s.p50_ms, s.mean_ms, s.iqr_ms, s.min_ms, s.max_ms) == (2.5, 2.5, 1.5, 1.0, 4.0)
    assert s.p90_ms == pytest.approx(3.7)
    assert stats.summarize([5.0]).p99_ms == 5.0


def test_stats_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        stats.summarize([])
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)
    with pytest.raises(ValueError):
        stats.tflops(1, 1, 0.0)


def test_throughput_and_tflops() -> None:
    assert stats.throughput_per_s(8, 4.0) == pytest.approx(2000.0)
    # design.md: the MLP at batch 64 took 0.099 ms on the H100, which is 32.4 TFLOP/s (tf32).
    assert stats.tflops(MLP_FLOPS, 64, 0.099) == pytest.approx(MLP_FLOPS * 64 / 0.099e-3 / 1e12)
    assert stats.tflops(MLP_FLOPS, 64, 0.099) == pytest.approx(32.4, abs=0.05)
    assert stats.speedup(3.97, 0.099) == pytest.approx(40.1, abs=0.05)


# ---------------------------------------------------------------------------------------------
# profiles (benchmarks/config.yaml)


def test_the_shipped_config_has_both_profiles() -> None:
    cfg = profiles.load_config(REPO / "benchmarks" / "config.yaml")
    assert cfg.profile == "auto"
    assert cfg.batches == (1, 8, 64)
    assert cfg.families == ("mlp", "transformer")
    assert cfg.profiles["smoke"].models == {"mlp": "mlp-smoke", "transformer": "bert-smoke"}
    assert cfg.profiles["realistic"].models == {"mlp": "mlp", "transformer": "bert-base"}
    assert cfg.resolve(None, physical_gpu=True).name == "realistic"
    assert cfg.resolve(None, physical_gpu=False).name == "smoke"
    assert cfg.resolve("smoke", physical_gpu=True).name == "smoke"
    assert cfg.resolve("realistic", physical_gpu=False).name == "realistic"
    with pytest.raises(ValueError, match="unknown benchmark profile"):
        cfg.resolve("huge", physical_gpu=False)


def test_budget_caps_slow_steps_and_keeps_a_floor() -> None:
    b = profiles.Budget(count=200, warmup=20, least=5, budget_s=20.0)
    assert b.plan(0.1) == (200, 20)  # fast: the count rules
    assert b.plan(400.0) == (50, 16)  # 20 s / 0.4 s = 50 fit; warm-up a third of that
    assert b.plan(10_000.0) == (5, 1)  # a 10 s forward still runs the minimum, warmed once
    assert profiles.Budget(3, 0, 1, 1.0).plan(1.0) == (3, 0)


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    doc = (
        (REPO / "benchmarks" / "config.yaml")
        .read_text()
        .replace("models: {mlp: mlp, transformer: bert-base}", "models: {mlp: mlp}")
    )
    bad = tmp_path / "config.yaml"
    bad.write_text(doc)
    with pytest.raises(ValueError, match=r"profiles.realistic.models lacks \['transformer'\]"):
        profiles.load_config(bad)


# ---------------------------------------------------------------------------------------------
# twins (against the plan of the real manifests)


@pytest.fixture(scope="module")
def plan():
    result = run_check([REPO / "manifests"], None, None)
    return sorted(result.plans, key=lambda p: not p.target.name.startswith("RayCluster/"))[0]


def test_cpu_host_is_the_cpu_worker_group(plan) -> None:
    cands = twins.candidates_from_plan(plan.ray_nodes)
    host = twins.pick_cpu_host(cands)
    assert host.group == "cpu-workers"
    assert host.cpus == 2.0 and not host.is_head
    assert twins.pick_cpu_host(cands, "headgroup").is_head
    with pytest.raises(twins.TwinError, match="gpu-workers"):
        twins.pick_cpu_host(cands, "gpu-workers")
    # Without the worker group the head is the only node off the GPU nodes.
    no_workers = [c for c in cands if c.group != "cpu-workers"]
    assert twins.pick_cpu_host(no_workers).group == "headgroup"
    with pytest.raises(twins.TwinError, match="no Ray node on a non-GPU node"):
        twins.pick_cpu_host([c for c in cands if c.is_gpu_node])


def test_cpu_host_from_live_records() -> None:
    from gpuconf.live.observe import PodRecord

    def rec(pod: str, group: str, gpu: bool, head: bool, cpus: float) -> PodRecord:
        return PodRecord(
            pod,
            pod,
            "n",
            group,
            head,
            gpu,
            1.0 if gpu else 0.0,
            {"CPU": cpus, "memory": 1e9},
            {"ray.io/node-group": group},
        )

    live = [
        rec("h", "headgroup", False, True, 2),
        rec("g", "gpu-workers", True, False, 4),
        rec("c1", "cpu-workers", False, False, 1),
        rec("c2", "big-cpu", False, False, 8),
    ]
    host = twins.pick_cpu_host(twins.candidates_from_records(live))
    assert (host.group, host.pod, host.cpus) == ("big-cpu", "c2", 8.0)  # the worker with the most CPUs


def test_cpu_sizing() -> None:
    host = twins.CpuHost("cpu-workers", "p", cpus=2.0, memory=3e9, is_head=False)
    assert twins.cpu_sizing(host) == (2.0, 2)
    assert twins.cpu_sizing(host, num_cpus=1.0) == (1.0, 1)
    assert twins.cpu_sizing(host, num_cpus=1.5, torch_threads=4) == (1.5, 4)
    assert twins.cpu_sizing(twins.CpuHost("g", "p", 0.5, 0, False)) == (0.5, 1)
    with pytest.raises(twins.TwinError, match="has 2"):
        twins.cpu_sizing(host, num_cpus=3.0)


def test_twin_config_copies_the_gpu_deployment_and_pins_the_cpu_twin(plan) -> None:
    body = plan.target.serve.body
    before = copy.deepcopy(plain(body))
    host = twins.pick_cpu_host(twins.candidates_from_plan(plan.ray_nodes))
    cfg = twins.build_twin_config(body, "bert-smoke", host, 2.0, 2)
    assert plain(body) == before, "the user's Serve config must not be modified"
    apps = {a["name"]: a for a in cfg["applications"]}
    assert list(apps) == ["bench_gpu", "bench_cpu", "bench_noop"]
    assert {a["route_prefix"] for a in apps.values()} == {"/bench_gpu", "/bench_cpu", "/bench_noop"}
    assert cfg["proxy_location"] == before["proxy_location"]

    user_dep = before["applications"][0]["deployments"][0]
    gpu = apps["bench_gpu"]
    assert gpu["import_path"] == "entrypoints.ml_entrypoint:build_ml_service"
    assert gpu["args"] == {"model": "bert-smoke"}
    assert gpu["deployments"][0]["ray_actor_options"] == user_dep["ray_actor_options"]
    assert gpu["deployments"][0]["ray_actor_options"]["resources"] == {"gpu_worker": 0.001}

    cpu = apps["bench_cpu"]
    assert cpu["import_path"] == gpu["import_path"]
    assert cpu["args"] == {"model": "bert-smoke", "device": "cpu", "torch_threads": 2}
    opts = cpu["deployments"][0]["ray_actor_options"]
    assert opts == {
        "num_cpus": 2.0,
        "num_gpus": 0,
        "memory": 2147483648,
        "label_selector": {"ray.io/node-group": "cpu-workers"},
    }

    noop = apps["bench_noop"]
    assert noop["import_path"] == "entrypoints.ml_entrypoint:build_noop_service"
    assert "args" not in noop
    assert noop["deployments"] == [
        {
            "name": "NoopService",
            "num_replicas": 1,
            "ray_actor_options": {"num_cpus": 0, "label_selector": {"ray.io/node-group": "cpu-workers"}},
        }
    ]


def test_twins_fit_only_where_intended(plan) -> None:
    """Ray's placement rules (our model of them) over the planned nodes: GPU twin on the GPU node
    only, CPU and no-op twins on the cpu-workers node only."""
    host = twins.pick_cpu_host(twins.candidates_from_plan(plan.ray_nodes))
    cfg = twins.build_twin_config(plan.target.serve.body, "mlp-smoke", host, *twins.cpu_sizing(host))
    views = [RayNodeView(n.name, n.resources, n.labels) for n in plan.ray_nodes]
    fits = {
        d.app: sorted(v.labels["ray.io/node-group"] for v in views if not node_misfit(d, v))
        for d in demands_from_serve(cfg)
    }
    assert fits == {"bench_gpu": ["gpu-workers"], "bench_cpu": ["cpu-workers"], "bench_noop": ["cpu-workers"]}


def test_twin_config_drops_what_cannot_fit_and_one_replica() -> None:
    body = {
        "applications": [
            {
                "name": "ml",
                "route_prefix": "/ml",
                "import_path": "entrypoints.ml_entrypoint:build_ml_service",
                "runtime_env": {"env_vars": {"A": "1"}},
                "args": {"model": "mlp", "seed": 3},
                "deployments": [
                    {
                        "name": "MLService",
                        "autoscaling_config": {"min_replicas": 2},
                        "ray_actor_options": {
                            "num_gpus": 1,
                            "memory": 64e9,
                            "accelerator_type": "H100",
                            "label_selector": {"gpu": "yes"},
                        },
                    }
                ],
            }
        ]
    }
    host = twins.CpuHost("cpu", "p", cpus=4.0, memory=8e9, is_head=False)
    apps = {a["name"]: a for a in twins.build_twin_config(body, "bert-base", host, 4.0, 4)["applications"]}
    gpu_dep, cpu_dep = apps["bench_gpu"]["deployments"][0], apps["bench_cpu"]["deployments"][0]
    assert gpu_dep["num_replicas"] == 1 and "autoscaling_config" not in gpu_dep
    assert gpu_dep["ray_actor_options"]["label_selector"] == {"gpu": "yes"}
    assert cpu_dep["ray_actor_options"] == {
        "num_cpus": 4.0,
        "num_gpus": 0,
        "label_selector": {"ray.io/node-group": "cpu"},
    }
    assert apps["bench_cpu"]["args"] == {"model": "bert-base", "seed": 3, "device": "cpu", "torch_threads": 4}
    assert all(a["runtime_env"] == {"env_vars": {"A": "1"}} for a in apps.values())
    with pytest.raises(twins.TwinError, match="no application"):
        twins.build_twin_config({"applications": []}, "mlp", host, 1.0, 1)


# ---------------------------------------------------------------------------------------------
# the speedup gate


@pytest.fixture(scope="module")
def thresholds() -> gate.Thresholds:
    return gate.load_thresholds(REPO / "benchmarks" / "thresholds.yaml")


def _gpu(p50: float, device: str = "cuda:0", physical: bool = True) -> gate.TwinResult:
    return gate.TwinResult(device, "NVIDIA H100 80GB HBM3" if device.startswith("cuda") else "cpu", p50, physical)


CPU = gate.TwinResult("cpu", "cpu", 3.97, False)


def test_shipped_thresholds_are_floors_below_the_measured_h100_speedups(thresholds: gate.Thresholds) -> None:
    measured = {
        ("mlp", 1): 9,
        ("mlp", 8): 12,
        ("mlp", 64): 40,
        ("bert-base", 1): 15,
        ("bert-base", 8): 38,
        ("bert-base", 64): 207,
    }  # design.md "Measured figures"
    for (model, batch), x in measured.items():
        factor, _ = thresholds.factor(model, batch)
        assert 1 < factor < x, (model, batch, factor)
    assert thresholds.factor("mlp", 64)[0] == 5  # the 5x floor at batch 64
    assert thresholds.factor("mlp-smoke", 8) is None


def test_unlisted_batches_take_the_floor_below(thresholds: gate.Thresholds) -> None:
    assert thresholds.factor("bert-base", 32) == (
        5.0,
        f"{thresholds.source}: bert-base batch 8 (no entry for batch 32)",
    )
    assert thresholds.factor("mlp", 256)[0] == 5.0
    t = gate.Thresholds({"m": {8: 3.0}})
    assert t.factor("m", 4) is None


def test_gate_passes_a_real_speedup(thresholds: gate.Thresholds) -> None:
    d = gate.speedup_gate("mlp", 64, _gpu(0.099), CPU, thresholds, host_gpus=1)
    assert d.outcome == "pass"
    assert d.speedup == pytest.approx(40.1, abs=0.05) and d.required == 5
    assert "40.1x" in d.reason


def test_gate_fails_a_gpu_that_is_too_slow(thresholds: gate.Thresholds) -> None:
    d = gate.speedup_gate("mlp", 64, _gpu(1.0), CPU, thresholds, host_gpus=1)
    assert d.outcome == "fail"
    assert d.speedup == pytest.approx(3.97)
    assert "4.0x, required >= 5x" in d.reason


def test_gate_fails_when_the_gpu_twin_ran_on_cpu_although_the_host_has_a_gpu(thresholds: gate.Thresholds) -> None:
    # The "GPU" twin is really on CPU: even a huge apparent speedup (a faster CPU node) must not pass.
    d = gate.speedup_gate("bert-base", 64, _gpu(0.5, device="cpu", physical=False), CPU, thresholds, host_gpus=1)
    assert d.outcome == "fail"
    assert "ran the model on cpu" in d.reason and "silently on CPU" in d.reason


def test_gate_fails_when_the_model_stopped_using_a_visible_gpu(thresholds: gate.Thresholds) -> None:
    d = gate.speedup_gate("mlp", 8, _gpu(0.01, device="cpu", physical=True), CPU, thresholds, host_gpus=0)
    assert d.outcome == "fail"
    assert "stopped using the GPU" in d.reason


def test_gate_skips_on_a_cpu_only_host_and_says_why(thresholds: gate.Thresholds) -> None:
    d = gate.speedup_gate("mlp", 64, _gpu(3.9, device="cpu", physical=False), CPU, thresholds, host_gpus=0)
    assert d.outcome == "skip"
    assert "no physical GPU" in d.reason
    strict = gate.speedup_gate(
        "mlp", 64, _gpu(3.9, device="cpu", physical=False), CPU, thresholds, 0, require_cuda=True
    )
    assert strict.outcome == "fail" and strict.reason.startswith("--require-cuda")


def test_gate_skips_loudly_without_a_threshold(thresholds: gate.Thresholds) -> None:
    d = gate.speedup_gate("mlp-smoke", 64, _gpu(0.05), CPU, thresholds, host_gpus=1)
    assert d.outcome == "skip" and "no speedup threshold for mlp-smoke batch 64" in d.reason


def test_gate_fails_when_the_cpu_twin_had_the_gpu(thresholds: gate.Thresholds) -> None:
    d = gate.speedup_gate("mlp", 64, _gpu(0.099), gate.TwinResult("cuda:0", "H100", 0.1, True), thresholds, 1)
    assert d.outcome == "fail" and "CPU twin ran on cuda:0" in d.reason


def test_thresholds_must_be_speedups(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text("models:\n  mlp:\n    1: 1.0\n")
    with pytest.raises(ValueError, match="must be > 1"):
        gate.load_thresholds(p)


# ---------------------------------------------------------------------------------------------
# results, table, picture


def _m(
    model: str,
    batch: int,
    twin: str,
    samples: list[float],
    device: str,
    e2e: list[float] | None = None,
    copies: list[float] | None = None,
) -> Measurement:
    return Measurement(
        model,
        batch,
        twin,
        device,
        "NVIDIA H100 80GB HBM3" if device.startswith("cuda") else "cpu",
        "cuda_event" if device.startswith("cuda") else "perf_counter",
        16,
        MLP_FLOPS,
        samples,
        copies or [],
        e2e or [],
    )


@pytest.fixture
def measured() -> list[Measurement]:
    return [
        _m("mlp", 64, "cpu", [3.9, 3.97, 4.2], "cpu", e2e=[15.0, 16.0, 18.0]),
        _m("mlp", 64, "gpu", [0.095, 0.099, 0.2], "cuda:0", e2e=[6.0, 6.1, 7.0], copies=[0.3, 0.31, 0.4]),
        _m("mlp", 1, "cpu", [0.69, 0.7, 0.8], "cpu"),
        _m("mlp", 1, "gpu", [0.07, 0.075, 0.08], "cuda:0"),
    ]


def test_measurement_extra_info(measured: list[Measurement]) -> None:
    info = measured[1].extra_info()
    assert info["in_replica_p50_ms"] == 0.099 and info["in_replica_n"] == 3
    assert info["in_replica_p99_ms"] == pytest.approx(np.percentile([0.095, 0.099, 0.2], 99))
    assert info["tflops"] == pytest.approx(stats.tflops(MLP_FLOPS, 64, 0.099))
    assert info["with_copies_p50_ms"] == 0.31
    assert info["in_replica_throughput_per_s"] == pytest.approx(64e3 / np.mean([0.095, 0.099, 0.2]))
    assert json.dumps(info)  # JSON-ready for benchmark.json


def test_extra_info_keeps_the_host_clock_and_the_graph_apart(measured: list[Measurement]) -> None:
    m = measured[1]
    assert "host_p50_ms" not in m.extra_info(), "no host samples (an older replica): no host figures"
    m.host_samples_ms = [0.15, 0.16, 0.30]
    m.graph_samples_ms, m.graph_host_samples_ms = [0.07, 0.071, 0.09], [0.08, 0.09, 0.10]
    m.graph_note = "CUDA graph replay"
    info = m.extra_info()
    assert info["in_replica_p50_ms"] == info["device_p50_ms"] == 0.099, "in_replica_* stays the device clock"
    assert info["host_p50_ms"] == 0.16
    assert info["overhead_p50_ms"] == pytest.approx(0.061)  # the median of per-forward host - device
    assert info["overhead_share"] == pytest.approx(0.061 / 0.16)
    assert (info["graph_device_p50_ms"], info["graph_host_p50_ms"]) == (0.071, 0.09)
    assert info["graph_overhead_p50_ms"] == pytest.approx(0.01) and info["graph_note"] == "CUDA graph replay"
    assert json.dumps(info)


def test_a_bench_answer_becomes_a_measurement() -> None:
    from gpuconf.bench.runner import BenchFailed, add_graph, measurement_of

    body = {
        "model": "mlp",
        "device": "cuda:0",
        "device_name": "NVIDIA H200",
        "timer": "cuda_event",
        "torch_threads": 16,
        "flops_per_sample": MLP_FLOPS,
        "samples_ms": [0.1, 0.2],
        "host_samples_ms": [0.15, 0.25],
        "copy_samples_ms": None,
    }
    m = measurement_of("mlp", 8, "gpu", body)
    assert (m.samples_ms, m.host_samples_ms, m.copy_samples_ms) == ([0.1, 0.2], [0.15, 0.25], [])
    add_graph(m, {**body, "graph": True, "graph_note": "CUDA graph replay", "samples_ms": [0.05, 0.06]})
    assert m.graph_samples_ms == [0.05, 0.06] and m.graph_host_samples_ms == [0.15, 0.25]
    old = measurement_of("mlp", 8, "gpu", {k: v for k, v in body.items() if k != "host_samples_ms"})
    assert old.host_samples_ms == [] and old.timing is None
    add_graph(old, body)  # a replica that predates graph=1 answers eagerly, without saying so
    assert old.graph_samples_ms == [] and old.graph_note == "the replica ignored graph=1"
    add_graph(old, {**body, "graph": False, "graph_note": "no CUDA graph: capture failed (RuntimeError: x)"})
    assert old.graph_samples_ms == [] and old.graph_note.startswith("no CUDA graph: capture failed")
    with pytest.raises(BenchFailed, match="served model 'mlp', expected 'bert-base'"):
        measurement_of("bert-base", 8, "gpu", body)


def test_table_renders_the_numbers(measured: list[Measurement]) -> None:
    gates = {
        ("mlp", 64): gate.GateDecision("pass", "ok", 40.1, 5.0),
        ("mlp", 1): gate.GateDecision("skip", "no physical GPU: the host has none"),
    }
    md = table.render(
        measured,
        Overhead([5.0, 5.6, 8.0]),
        gates,
        {"profile": "realistic", "versions": "torch 2.13", "picture": "reports/latency.png"},
    )
    assert "profile `realistic`" in md
    assert "| mlp | 64 | 3.97 | 4.20 | 0.099 | 0.198 | 40.1x | 32.4 | 0.310 | PASS (>= 5x) |" in md
    assert "| mlp | 1 | 0.700 | 0.798 | 0.075 | 0.080 | 9.3x | 0.668 | - | SKIP [1] |" in md
    assert "[1] no physical GPU: the host has none" in md
    # e2e: CPU 16 vs GPU 6.1 -> 2.6x; overhead = e2e p50 - model p50
    assert "| mlp | 64 | 16.0 | 18.0 | 6.10 | 6.98 | 2.6x | 12.0 | 6.00 |" in md
    assert "no-op twin, `GET /noop`): p50 5.60 ms, p99 7.95 ms (n=3)" in md
    assert "reports/latency.png" in md


def test_table_sets_the_gpu_host_clock_and_graph_beside_the_device(measured: list[Measurement]) -> None:
    assert "device time (CUDA events) vs host time" not in table.render(measured, None, {}, {}), "no host samples"
    gpu64, gpu1 = measured[1], measured[3]
    gpu64.host_samples_ms = [0.15, 0.16, 0.30]
    gpu64.graph_samples_ms, gpu64.graph_host_samples_ms = [0.07, 0.071, 0.09], [0.08, 0.09, 0.10]
    gpu1.host_samples_ms = [0.1, 0.1, 0.1]
    gpu1.graph_note = "no CUDA graph: capture failed (RuntimeError: x)"
    md = table.render(measured, None, {}, {})
    assert "| mlp | 64 | 0.099 | 0.160 | 0.061 (38%) | 0.071 | 0.090 |" in md
    assert "| mlp | 1 | 0.075 | 0.100 | 0.025 (25%) | no CUDA graph: capture failed (RuntimeError: x) | - |" in md


def test_table_marks_a_gpu_twin_that_ran_on_cpu() -> None:
    md = table.render([_m("mlp-smoke", 8, "cpu", [0.1], "cpu"), _m("mlp-smoke", 8, "gpu", [0.12], "cpu")], None, {}, {})
    assert "| mlp-smoke | 8 | 0.100 | 0.100 | 0.120 (on cpu) | 0.120 | 0.8x (cpu/cpu) | - | - | not run |" in md


def test_fmt_ms_never_uses_exponents() -> None:
    assert [table.fmt_ms(x) for x in (1501.2, 29.84, 2.054, 0.0751, 0.00123)] == [
        "1501",
        "29.8",
        "2.05",
        "0.075",
        "0.0012",
    ]


def test_latency_png(measured: list[Measurement], tmp_path: Path) -> None:
    import matplotlib.image

    path = plot.plot_latency(measured, Overhead([5.0, 5.6, 8.0]), tmp_path / "latency.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    h, w = matplotlib.image.imread(path).shape[:2]
    # one model column, two rows, at 110 dpi (savefig may round a pixel either way)
    assert abs(w - (5.2 + 0.8) * 110) <= 1 and abs(h - 8.2 * 110) <= 1
    with pytest.raises(ValueError):
        plot.plot_latency([], None, tmp_path / "none.png", "empty")


# ---------------------------------------------------------------------------------------------
# bare torch


def test_bare_torch_times_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import bare_torch

    out = tmp_path / "bare.json"
    fake = tmp_path / "benchmark.json"
    fake.write_text(
        json.dumps(
            {
                "benchmarks": [
                    {"extra_info": {"model": "mlp-smoke", "batch": 8, "device": "cpu", "in_replica_p50_ms": 1.0}}
                ]
            }
        )
    )
    assert (
        bare_torch.main(
            [
                "--models",
                "mlp-smoke",
                "--batches",
                "1",
                "8",
                "--devices",
                "cpu",
                "--iters",
                "7",
                "--warmup",
                "2",
                "--threads",
                "1",
                "--json",
                str(out),
                "--compare",
                str(fake),
            ]
        )
        == 0
    )
    doc = json.loads(out.read_text())
    rows = doc["results"]
    assert [(r["model"], r["batch"], r["device"], r["n"]) for r in rows] == [
        ("mlp-smoke", 1, "cpu", 7),
        ("mlp-smoke", 8, "cpu", 7),
    ]
    assert all(r["timer"] == "perf_counter" and len(r["samples_ms"]) == 7 and r["p50_ms"] > 0 for r in rows)
    assert rows[1]["p50_ms"] == pytest.approx(np.percentile(rows[1]["samples_ms"], 50))
    printed = capsys.readouterr().out
    assert "replica p50" in printed and "mlp-smoke" in printed
    # Both clocks per row (one on CPU), and no graph claimed off CUDA.
    assert all(r["host_p50_ms"] == r["p50_ms"] and r["overhead_p50_ms"] == 0.0 for r in rows)
    assert all(r["graph"] is False and r["graph_note"] == "no CUDA graph: not a CUDA device" for r in rows)
    assert doc["peak"] is None and "pct_peak" not in rows[0]
    # --compare judged the one pair there is: bare b8 against the fake replica's 1.0 ms.
    (pair,) = doc["fidelity"]["rows"]
    assert (pair["model"], pair["batch"], pair["device"]) == ("mlp-smoke", 8, "cpu")
    assert pair["ratio"] == pytest.approx(1.0 / rows[1]["p50_ms"])
    assert doc["fidelity"]["unmatched"] == ["mlp-smoke b1 cpu: no in-replica row"]
    assert "fidelity: " in printed and "headline bert-base b64: no CUDA row" in printed


def test_bare_torch_gate_lines() -> None:
    from benchmarks import bare_torch

    t = gate.load_thresholds(REPO / "benchmarks" / "thresholds.yaml")
    rows = [
        {"model": "bert-base", "batch": 64, "device": "cpu", "device_name": "cpu", "p50_ms": 1501.0},
        {"model": "bert-base", "batch": 64, "device": "cuda:0", "device_name": "NVIDIA H100", "p50_ms": 7.25},
        {"model": "mlp", "batch": 1, "device": "cpu", "device_name": "cpu", "p50_ms": 0.1},
        {"model": "mlp", "batch": 1, "device": "cuda:0", "device_name": "NVIDIA H100", "p50_ms": 0.075},
    ]
    lines = bare_torch.gate_lines(rows, t).splitlines()
    assert lines[0].startswith("gate bert-base b64: PASS CPU p50 1501 ms / GPU p50 7.25 ms = 207.0x")
    assert lines[1].startswith(
        "gate mlp b1: FAIL GPU too slow: CPU p50 0.1 ms / GPU p50 0.075 ms = 1.3x, required >= 2x"
    )
