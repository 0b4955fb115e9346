"""In-replica against bare torch (gpuconf.bench.fidelity), on hand-made rows shaped as the real ones."""

from __future__ import annotations

from typing import Any

import pytest

from gpuconf.bench import fidelity
from gpuconf.bench.stats import tflops

# entrypoints/models.py's count for bert-base (12 layers, d 768, ffn 3072, seq 128)
BERT_FLOPS = 12 * (2 * 128 * 768 * 2304 + 2 * 2 * 128 * 128 * 768 + 2 * 128 * 768 * 768 + 2 * 2 * 128 * 768 * 3072)
H200 = "NVIDIA H200"


def _bare(model: str, batch: int, p50: float, device: str = "cuda:0", **extra: Any) -> dict[str, Any]:
    return {"model": model, "batch": batch, "device": device, "device_name": H200, "p50_ms": p50, **extra}


def _replica(model: str, batch: int, p50: float, device: str = "cuda:0", **extra: Any) -> dict[str, Any]:
    twin = "gpu" if device.startswith("cuda") else "cpu"
    return {
        "model": model,
        "batch": batch,
        "twin": twin,
        "device": device,
        "device_name": H200 if twin == "gpu" else "cpu",
        "in_replica_p50_ms": p50,
        **extra,
    }


@pytest.fixture
def rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    bare = [
        _bare("mlp", 1, 0.080, host_p50_ms=0.110, graph_device_p50_ms=0.050, peak_tflops=400.0),
        _bare("mlp", 8, 0.100, peak_tflops=400.0),
        _bare("bert-base", 64, 7.00, host_p50_ms=7.2, peak_tflops=400.0),
    ]
    replica = [
        # A launch-bound sub-millisecond forward: its eager device time (0.120 against 0.080) holds
        # the gaps while the replica's slower host launched kernels; the graph replays (0.052 against
        # 0.050) are the forward itself, and those are compared.
        _replica(
            "mlp",
            1,
            0.120,
            host_p50_ms=0.160,
            graph_device_p50_ms=0.052,
            e2e_p50_ms=5.16,
            flops_per_sample=1e9,
        ),
        _replica("mlp", 8, 0.095, tflops=20.0),  # 0.95, eager on both sides: within, on the faster side
        # 8.4 / 7.0 = 1.2: outside 10%, so the verdict must fail
        _replica("bert-base", 64, 8.4, flops_per_sample=BERT_FLOPS),
        _replica("mlp", 1, 0.7, device="cpu"),  # no bare CPU row
    ]
    return bare, replica


def test_each_pair_gets_its_ratio_verdict_and_overhead_split(rows: tuple[list[dict], list[dict]]) -> None:
    report = fidelity.compare(*rows)
    by = {(r.model, r.batch): r for r in report.rows}
    assert set(by) == {("mlp", 1), ("mlp", 8), ("bert-base", 64)}
    small = by[("mlp", 1)]
    assert (small.clock, small.device) == ("graph", "cuda")
    assert small.ratio == pytest.approx(1.04) and small.within is True
    assert small.eager_ratio == pytest.approx(1.5), "the eager figure is kept beside, not judged"
    # The host's eager wait beyond the forward itself: bare 0.110 - 0.050, replica 0.160 - 0.052.
    assert small.bare_overhead_ms == pytest.approx(0.060) and small.replica_overhead_ms == pytest.approx(0.108)
    assert small.serve_overhead_ms == pytest.approx(5.0), "e2e p50 minus the replica's host p50"
    assert small.tflops == pytest.approx(tflops(1e9, 1, 0.052)) and small.pct_peak == pytest.approx(
        100 * tflops(1e9, 1, 0.052) / 400.0
    )
    mid = by[("mlp", 8)]
    assert (mid.clock, mid.ratio, mid.within) == ("eager", pytest.approx(0.95), True)
    assert mid.tflops == 20.0, "no FLOP count in the row: the replica's own eager figure"
    bert = by[("bert-base", 64)]
    assert bert.ratio == pytest.approx(1.2) and bert.within is False and bert.clock == "eager"
    assert bert.tflops == pytest.approx(tflops(BERT_FLOPS, 64, 8.4))
    assert bert.pct_peak == pytest.approx(100 * tflops(BERT_FLOPS, 64, 8.4) / 400.0)
    assert bert.serve_overhead_ms is None and bert.replica_overhead_ms is None
    assert bert.bare_overhead_ms == pytest.approx(0.2)


def test_one_row_outside_fails_the_report(rows: tuple[list[dict], list[dict]]) -> None:
    report = fidelity.compare(*rows)
    assert report.ok is False
    assert [r.model for r in report.outside()] == ["bert-base"]
    assert report.verdict() == "fidelity: FAIL: 1 of 3 outside 10% of bare torch: bert-base b64 cuda 1.20x (eager)"
    assert report.unmatched == ["mlp b1 cpu: no bare-torch row"]
    doc = report.as_dict()
    assert doc["ok"] is False and len(doc["rows"]) == 3 and doc["rows"][0]["clock"] == "graph"


def test_all_within_passes_and_the_tolerance_is_a_parameter(rows: tuple[list[dict], list[dict]]) -> None:
    bare, replica = rows
    assert fidelity.compare(bare, replica, tolerance=0.25).ok is True
    report = fidelity.compare(bare[:2], replica[:2])
    assert report.ok
    assert report.verdict() == "fidelity: PASS: 2 of 2 within 10% of bare torch on the device's clock"
    assert report.unmatched == []
    assert fidelity.compare(bare[:1], replica[:1], tolerance=0.03).ok is False, "1.04 is outside 3%"


def test_graph_replays_on_one_side_only_compare_eagerly() -> None:
    """A capture that failed in the replica leaves the eager figures to compare, and the row says so."""
    (row,) = fidelity.compare([_bare("mlp", 1, 0.08, graph_device_p50_ms=0.05)], [_replica("mlp", 1, 0.12)]).rows
    assert (row.clock, row.ratio, row.within) == ("eager", pytest.approx(1.5), False)
    assert row.note == "graph replays on the bare side only"


def test_nothing_to_compare_is_a_failure_not_a_pass() -> None:
    report = fidelity.compare([_bare("mlp", 1, 0.08)], [])
    assert report.ok is False and report.rows == []
    assert "no (model, batch, device) has both" in report.verdict()
    assert report.unmatched == ["mlp b1 cuda: no in-replica row"]


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        fidelity.compare([], [], tolerance=-0.1)
    with pytest.raises(ValueError, match=r"positive, got bare 0\.0 ms"):
        fidelity.compare([_bare("mlp", 1, 0.0)], [_replica("mlp", 1, 0.1)])
    with pytest.raises(ValueError, match="replica graph"):
        fidelity.compare([_bare("mlp", 1, 0.1)], [_replica("mlp", 1, 0.1, graph_device_p50_ms=0.0)])


def test_the_twin_named_for_the_device_is_compared() -> None:
    """A "GPU" twin that ran on the CPU must not stand in for the CPU twin."""
    stray = {**_replica("mlp", 8, 2.0, device="cpu"), "twin": "gpu"}
    cpu_twin = _replica("mlp", 8, 1.0, device="cpu")
    for replica in ([stray, cpu_twin], [cpu_twin, stray]):
        (row,) = fidelity.compare([_bare("mlp", 8, 1.0, device="cpu")], replica).rows
        assert row.ratio == 1.0 and row.device == "cpu" and row.tflops is None


def test_another_card_is_said() -> None:
    bare = [{**_bare("mlp", 1, 0.08), "device_name": "NVIDIA H100 80GB HBM3"}]
    (row,) = fidelity.compare(bare, [_replica("mlp", 1, 0.08)]).rows
    assert row.note == f"not the same device: NVIDIA H100 80GB HBM3 vs {H200}"


def test_replica_rows_come_from_the_benchmark_json() -> None:
    doc = {
        "benchmarks": [
            {"extra_info": {"twin": "noop", "p50_ms": 5.0}, "stats": {"median": 0.005}},
            {"extra_info": _replica("mlp", 1, 0.084, host_p50_ms=0.14), "stats": {"median": 0.00514}},
            {"extra_info": _replica("mlp", 8, 0.095)},  # --benchmark-disable: no rounds
        ]
    }
    rows = fidelity.replica_rows(doc)
    assert [(r["model"], r["batch"]) for r in rows] == [("mlp", 1), ("mlp", 8)]
    assert rows[0]["e2e_p50_ms"] == pytest.approx(5.14) and "e2e_p50_ms" not in rows[1]


def test_the_table_shows_each_verdict(rows: tuple[list[dict], list[dict]]) -> None:
    text = fidelity.render(fidelity.compare(*rows))
    lines = text.splitlines()
    header = "model batch device clock bare dev p50 replica dev p50 ratio within 10% overhead serve TFLOP/s % peak"
    assert " ".join(lines[0].split()) == header
    mlp = next(line for line in lines if line.startswith("mlp") and " 1 " in line)
    assert mlp.split() == [
        "mlp",
        "1",
        "cuda",
        "graph",
        "0.050",
        "0.052",
        "1.04x",
        "yes",
        "0.108",
        "5.00",
        "19.2",
        "4.8%",
    ]
    bert = next(line for line in lines if line.startswith("bert-base"))
    assert bert.split()[3:9] == ["eager", "7.00", "8.40", "1.20x", "NO", "-"]
    assert lines[-2].startswith("fidelity: FAIL") and lines[-1] == "  not compared: mlp b1 cpu: no bare-torch row"


def test_headline_is_the_bert_shape_batch_64() -> None:
    row = _bare("bert-base", 64, 7.0, tflops=147.5, peak_tflops=400.0, pct_peak=36.875)
    assert fidelity.headline([_bare("mlp", 64, 0.1, tflops=30.0), row]) == (
        f"headline bert-base b64 on {H200}: device p50 7 ms, 147.5 TFLOP/s, 36.9% of the measured peak 400 TFLOP/s"
    )
    assert "no CUDA row" in fidelity.headline([_bare("bert-base", 64, 900.0, device="cpu", tflops=1.0)])
    assert fidelity.headline([{**row, "peak_tflops": None, "pct_peak": None}]).endswith("peak not measured")
