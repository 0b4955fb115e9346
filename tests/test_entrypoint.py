"""Unit tests of entrypoints/: the reference models, the in-replica probe and MLService's HTTP
handling, plus one real Ray Serve round trip that ships entrypoints/ alone as a working_dir."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the tests must not depend on how pytest was started
    sys.path.insert(0, str(REPO))

from entrypoints import models  # noqa: E402
from entrypoints.probe import KERNEL_TOLERANCE, PROBE_ENV_VARS, collect_probe, format_gpu_uuid  # noqa: E402

ml = pytest.importorskip("entrypoints.ml_entrypoint", reason="ray[serve] is not installed")
from starlette.requests import Request  # noqa: E402

CUDA = torch.cuda.is_available()


# ---------------------------------------------------------------------------------------------
# models


def test_model_names_are_the_documented_four() -> None:
    assert set(models.MODEL_NAMES) == {"mlp-smoke", "mlp", "bert-base", "bert-smoke"}


@pytest.mark.parametrize(
    "name, batch, shape",
    [
        ("mlp-smoke", 3, [3, 10]),
        ("mlp", 2, [2, 1000]),
        ("bert-smoke", 2, [2, 32, 128]),
        ("bert-base", 1, [1, 128, 768]),
    ],
)
def test_output_shapes(name: str, batch: int, shape: list) -> None:
    ref = models.build_model(name)
    out = models.run_inference(ref, torch.device("cpu"), batch)
    assert out["output_shape"] == shape
    assert out["batch"] == batch
    assert out["device"] == "cpu"
    assert not ref.module.training, "reference models must be built in eval mode"


def test_bert_base_has_the_bert_base_shape() -> None:
    ref = models.build_model("bert-base")
    enc = ref.module
    assert isinstance(enc, torch.nn.TransformerEncoder)
    assert len(enc.layers) == 12
    layer = enc.layers[0]
    assert layer.self_attn.embed_dim == 768 and layer.self_attn.num_heads == 12
    assert layer.linear1.out_features == 3072
    assert layer.self_attn.batch_first
    assert ref.make_input(2).shape == (2, 128, 768)


def test_same_seed_same_weights_and_outputs() -> None:
    a, b = models.build_model("bert-smoke", seed=7), models.build_model("bert-smoke", seed=7)
    for pa, pb in zip(a.module.parameters(), b.module.parameters(), strict=False):
        assert torch.equal(pa, pb)
    assert models.run_inference(a, torch.device("cpu"), 4) == models.run_inference(b, torch.device("cpu"), 4)


def test_different_seed_different_weights() -> None:
    a, b = models.build_model("mlp-smoke", seed=0), models.build_model("mlp-smoke", seed=1)
    wa, wb = next(a.module.parameters()), next(b.module.parameters())
    assert not torch.equal(wa, wb)
    ca = models.run_inference(a, torch.device("cpu"), 4)["checksum"]
    cb = models.run_inference(b, torch.device("cpu"), 4)["checksum"]
    assert ca != cb


def test_building_a_model_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    models.build_model("mlp-smoke", seed=5)
    models.build_model("mlp-smoke", seed=5).make_input(8)
    assert torch.equal(torch.rand(4), expected)


def test_inputs_are_deterministic_and_prefix_stable() -> None:
    ref = models.build_model("mlp-smoke", seed=3)
    x4, x4again, x2 = ref.make_input(4), ref.make_input(4), ref.make_input(2)
    assert torch.equal(x4, x4again)
    # A smaller batch is the head of a larger one: batch size never changes which samples run.
    assert torch.equal(x4[:2], x2)
    assert x4.dtype == torch.float32 and x4.device.type == "cpu"


def test_mlp_flops_formula() -> None:
    ref = models.build_model("mlp")
    expected = 2 * (1024 * 4096 + 4096 * 4096 + 4096 * 1000)
    assert ref.flops_per_sample == expected == 50_135_040
    # The same count read off the built module, so the spec and the module cannot drift apart.
    linears = [m for m in ref.module.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(1024, 4096), (4096, 4096), (4096, 1000)]
    assert sum(2 * m.in_features * m.out_features for m in linears) == expected
    assert ref.param_count == sum(m.weight.numel() + m.bias.numel() for m in linears)


def test_transformer_flops_formula() -> None:
    # With ffn = 4 d: QKV 6sd^2 + out 2sd^2 + FFN 16sd^2 = 24 s d^2, attention matmuls 4 s^2 d.
    s, d = 128, 768
    assert models.MODEL_SPECS["bert-base"].flops_per_sample == 12 * (24 * s * d * d + 4 * s * s * d)
    s, d = 32, 128
    assert models.build_model("bert-smoke").flops_per_sample == 2 * (24 * s * d * d + 4 * s * s * d)


def test_unknown_model_names_the_allowed_values() -> None:
    with pytest.raises(ValueError) as exc:
        models.build_model("resnet-9000")
    for name in models.MODEL_NAMES:
        assert name in str(exc.value)


@pytest.mark.parametrize("bad", [0, -1, models.MAX_BATCH + 1, "x", 1.5, None])
def test_bad_batch_is_rejected(bad: Any) -> None:
    with pytest.raises(ValueError):
        models.check_batch(bad)


def test_resolve_device() -> None:
    assert models.resolve_device("cpu") == torch.device("cpu")
    assert models.resolve_device("auto") == torch.device("cuda:0" if CUDA else "cpu")
    with pytest.raises(ValueError, match="allowed values"):
        models.resolve_device("tpu")
    if not CUDA:
        with pytest.raises(RuntimeError, match="no CUDA device"):
            models.resolve_device("cuda")


def test_time_forward_on_cpu() -> None:
    ref = models.build_model("mlp-smoke")
    run = models.time_forward(ref, torch.device("cpu"), batch=1, iters=50, warmup=5)
    assert run["timer"] == "perf_counter"
    assert len(run["samples_ms"]) == 50 and all(s > 0 for s in run["samples_ms"])
    # mlp-smoke is the CI model: a forward takes ~0.1 ms here, so 5 ms is a wide sanity margin.
    assert models.summarize(run["samples_ms"])["p50"] < 5.0
    with pytest.raises(ValueError):
        models.time_forward(ref, torch.device("cpu"), batch=1, iters=0, warmup=0)


def test_time_forward_reports_both_clocks_and_why_no_graph() -> None:
    ref = models.build_model("mlp-smoke")
    run = models.time_forward(ref, torch.device("cpu"), batch=4, iters=6, warmup=1, graph=True)
    # On CPU the device's clock is the host's: the same samples, no overhead between them.
    assert run["host_samples_ms"] == run["samples_ms"] and len(run["samples_ms"]) == 6
    assert run["overhead_samples_ms"] == [0.0] * 6
    assert run["graph"] is False and run["graph_note"] == "no CUDA graph: not a CUDA device"
    assert run["timing"]["device_p50_ms"] == pytest.approx(models.summarize(run["samples_ms"])["p50"])
    assert run["timing"]["n"] == 6 and run["timing"]["overhead_share"] == 0.0


def test_summarize() -> None:
    s = models.summarize([4.0, 1.0, 3.0, 2.0])
    # One percentile definition (entrypoints.stats, linear as numpy): the replicas' p50 is the reports' p50.
    assert s == {"min": 1.0, "p50": 2.5, "p90": pytest.approx(3.7), "mean": 2.5, "max": 4.0}
    assert models.summarize([]) == {}


def test_replicas_and_reports_share_one_percentile() -> None:
    from gpuconf.bench import stats

    samples = [9.0, 1.0, 5.0, 2.0, 7.0]
    assert stats.summarize(samples).p50_ms == models.summarize(samples)["p50"] == 5.0
    assert stats.summarize([4.0, 1.0, 3.0, 2.0]).p90_ms == pytest.approx(models.summarize([4.0, 1.0, 3.0, 2.0])["p90"])


def test_checksum_is_float64_sum() -> None:
    t = torch.tensor([[1.5, -2.0], [0.25, 3.0]])
    assert models.checksum(t) == {"checksum": 2.75, "checksum_abs": 6.75}


# ---------------------------------------------------------------------------------------------
# probe (outside Ray)


def test_probe_outside_ray_is_complete_and_serialisable() -> None:
    p = collect_probe()
    json.dumps(p)  # must be JSON-serialisable as is
    for key in (
        "pid",
        "hostname",
        "node_id",
        "node_ip",
        "node_labels",
        "accelerator_ids",
        "gpu_ids",
        "assigned_resources",
        "actor_id",
        "cuda_visible_devices",
        "env",
        "torch",
        "devices",
        "driver_version",
        "kernel",
        "errors",
    ):
        assert key in p, key
    assert p["pid"] == os.getpid()
    assert p["hostname"] == socket.gethostname()
    assert p["ray_initialized"] is False and p["node_id"] is None
    assert {"field": "ray", "error": "ray is not initialized in this process"} in p["errors"]
    assert p["torch"]["version"] == str(torch.__version__)
    assert p["torch"]["cuda_available"] is CUDA


@pytest.mark.skipif(CUDA, reason="checks the CPU-host answer")
def test_probe_kernel_not_run_without_cuda() -> None:
    p = collect_probe()
    assert p["kernel"] == {"ran": False, "reason": "no CUDA device visible"}
    assert p["devices"] == [] and p["torch"]["device_count"] == 0


def test_probe_kernel_disabled_by_caller() -> None:
    assert collect_probe(run_kernel=False)["kernel"] == {
        "ran": False,
        "reason": "kernel check disabled by caller",
    }


def test_probe_keeps_unset_apart_from_empty_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert collect_probe(run_kernel=False)["cuda_visible_devices"] is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert collect_probe(run_kernel=False)["cuda_visible_devices"] == ""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert collect_probe(run_kernel=False)["cuda_visible_devices"] == "0,1"


def test_probe_reports_only_the_selected_env_vars_that_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in PROBE_ENV_VARS:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("GPUCONF_NODE_NAME", "gpu-node-1")
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", "all")
    monkeypatch.setenv("SOME_SECRET_TOKEN", "do-not-report")
    env = collect_probe(run_kernel=False)["env"]
    assert env == {"GPUCONF_NODE_NAME": "gpu-node-1", "NVIDIA_VISIBLE_DEVICES": "all"}


def test_probe_turns_failing_apis_into_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CUDA stack that claims a device but fails on every call must yield facts, not raise."""

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", boom)
    monkeypatch.setattr("entrypoints.probe.run_kernel_check", boom)
    monkeypatch.setattr(socket, "gethostname", boom)
    p = collect_probe()
    json.dumps(p)
    fields = {e["field"] for e in p["errors"]}
    assert {"hostname", "devices[0]", "kernel"} <= fields
    assert p["hostname"] is None
    assert p["devices"] == []
    assert p["kernel"]["ran"] is False and p["kernel"]["ok"] is False
    assert p["kernel"]["reason"] == "kernel failed: RuntimeError: boom"


def test_probe_without_a_torch_device_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: (_ for _ in ()).throw(RuntimeError("no driver")))
    p = collect_probe()
    assert p["torch"]["device_count"] == 0
    assert {"field": "torch.device_count", "error": "RuntimeError: no driver"} in p["errors"]


def test_format_gpu_uuid() -> None:
    bare = "5e2f3c1a-0b7d-4f5e-9a1b-2c3d4e5f6a7b"
    assert format_gpu_uuid(bare) == "GPU-" + bare
    assert format_gpu_uuid("GPU-" + bare) == "GPU-" + bare
    assert format_gpu_uuid("MIG-" + bare) == "MIG-" + bare
    assert format_gpu_uuid(bytes.fromhex(bare.replace("-", ""))) == "GPU-" + bare
    assert format_gpu_uuid(None) is None

    class FakeCuUUID:  # what torch's _CUuuid looks like: str() is the bare UUID
        def __str__(self) -> str:
            return bare

    assert format_gpu_uuid(FakeCuUUID()) == "GPU-" + bare


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_probe_kernel_on_cuda() -> None:
    p = collect_probe()
    k = p["kernel"]
    assert k["ran"] and k["ok"], k
    assert k["max_abs_err"] <= KERNEL_TOLERANCE
    assert p["devices"][0]["uuid"].startswith(("GPU-", "MIG-"))
    # the check restores the caller's TF32 setting
    assert torch.backends.cuda.matmul.allow_tf32 == models.tf32_flags()["matmul"]


# ---------------------------------------------------------------------------------------------
# MLService request handling, called directly (no Ray)


def make_request(method: str, path: str, query: str = "", body: bytes = b"", root_path: str = "") -> Request:
    """A starlette Request as Serve's proxy builds it: full path plus the prefix in root_path."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": query.encode(),
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 8000),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def call(
    svc: Any, method: str, path: str, query: str = "", body: bytes = b"", root_path: str = "/ml"
) -> tuple[int, dict[str, Any]]:
    full = root_path + path if root_path else path
    resp = asyncio.run(svc(make_request(method, full, query, body, root_path)))
    return resp.status_code, json.loads(resp.body)


@pytest.fixture
def keep_torch_threads() -> Iterator[None]:
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def svc() -> Any:
    return ml.MLService.func_or_class(model="mlp-smoke", seed=0, device="cpu")


@pytest.mark.parametrize(
    "path, root, expected",
    [
        ("/ml/probe", "/ml", "/probe"),  # what Serve 2.60's proxy hands the replica
        ("/probe", "", "/probe"),  # a bare path (direct call, other servers)
        ("/ml/probe/", "/ml", "/probe"),
        ("/ml", "/ml", "/"),
        ("/mlx/probe", "/ml", "/mlx/probe"),  # a prefix only matches whole segments
        ("/a/b/ml/bench", "/a/b/ml", "/bench"),  # nested root_path (global root + prefix)
    ],
)
def test_route_of(path: str, root: str, expected: str) -> None:
    assert ml.route_of(make_request("GET", path, root_path=root)) == expected


def test_direct_probe(svc: Any) -> None:
    code, p = call(svc, "GET", "/probe")
    assert code == 200
    assert p["replica_id"] is None and p["deployment"] is None  # no Serve context here
    assert p["service"] == "MLService"
    m = p["model"]
    assert m["name"] == "mlp-smoke" and m["device"] == "cpu" and m["device_requested"] == "cpu"
    assert m["param_count"] == 64 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    assert m["flops_per_sample"] == 2 * (64 * 256 + 256 * 256 + 256 * 10)
    assert m["torch_threads"] >= 1
    assert m["tf32"] is None  # TF32 is a CUDA setting: not reported for a CPU model
    assert p["pid"] == os.getpid()
    if not CUDA:
        assert p["kernel"] == {"ran": False, "reason": "no CUDA device visible"}
    code, p = call(svc, "GET", "/probe", query="kernel=0")
    assert p["kernel"]["reason"] == "kernel check disabled by caller"


def test_direct_infer_matches_a_local_model(svc: Any) -> None:
    code, out = call(svc, "POST", "/infer", body=b'{"batch": 3}')
    assert code == 200
    local = models.run_inference(models.build_model("mlp-smoke", 0), torch.device("cpu"), 3)
    assert out["output_shape"] == [3, 10] and out["batch"] == 3 and out["device"] == "cpu"
    assert out["checksum"] == local["checksum"] and out["checksum_abs"] == local["checksum_abs"]
    assert call(svc, "POST", "/infer")[1]["batch"] == 1  # empty body: batch 1


@pytest.mark.parametrize(
    "body, needle",
    [(b"{nope", "not JSON"), (b"[1]", "JSON object"), (b'{"batch": 0}', "batch"), (b'{"batch": "x"}', "batch")],
)
def test_direct_infer_bad_body_is_400(svc: Any, body: bytes, needle: str) -> None:
    code, out = call(svc, "POST", "/infer", body=body)
    assert code == 400 and needle in out["error"]


def test_direct_bench(svc: Any) -> None:
    code, b = call(svc, "GET", "/bench", query="batch=8&iters=7&warmup=2")
    assert code == 200
    assert (b["batch"], b["iters"], b["warmup"]) == (8, 7, 2)
    assert len(b["samples_ms"]) == 7 and all(s > 0 for s in b["samples_ms"])
    assert b["timer"] == "perf_counter" and b["device"] == "cpu" and b["device_name"] == "cpu"
    assert b["copy_samples_ms"] is None  # host<->device copies only exist on CUDA
    assert b["flops_per_sample"] == models.build_model("mlp-smoke").flops_per_sample
    assert b["summary_ms"]["min"] == min(b["samples_ms"])
    assert b["torch_threads"] >= 1
    # The host's clock beside the device's, sample by sample (the same clock on CPU).
    assert b["host_samples_ms"] == b["samples_ms"] and b["overhead_samples_ms"] == [0.0] * 7
    assert b["host_summary_ms"]["p50"] == b["summary_ms"]["p50"] == b["timing"]["device_p50_ms"]
    assert (b["graph_requested"], b["graph"], b["graph_note"]) == (False, False, "")
    code, d = call(svc, "GET", "/bench")
    assert (d["batch"], d["iters"], d["warmup"]) == (1, 20, 5)  # defaults


def test_direct_bench_graph_on_cpu_says_why_and_keeps_the_eager_numbers(svc: Any) -> None:
    code, b = call(svc, "GET", "/bench", query="batch=2&iters=4&warmup=1&graph=1")
    assert code == 200
    assert (b["graph_requested"], b["graph"]) == (True, False)
    assert b["graph_note"] == "no CUDA graph: not a CUDA device"
    assert len(b["samples_ms"]) == 4 and all(s > 0 for s in b["samples_ms"])


@pytest.mark.parametrize(
    "query", ["batch=0", "iters=0", "warmup=-1", "batch=abc", f"iters={ml.MAX_ITERS + 1}", "graph=maybe"]
)
def test_direct_bench_bad_params_are_400(svc: Any, query: str) -> None:
    code, out = call(svc, "GET", "/bench", query=query)
    assert code == 400 and out["path"] == "/bench"


def test_direct_noop_health_404_405(svc: Any) -> None:
    assert call(svc, "GET", "/noop") == (200, {"ok": True})
    code, h = call(svc, "GET", "/healthz")
    assert code == 200 and h["ok"] is True and h["model"] == "mlp-smoke"
    code, nf = call(svc, "GET", "/nope")
    assert code == 404
    assert nf["paths"] == {"/probe": "GET", "/infer": "POST", "/bench": "GET", "/noop": "GET", "/healthz": "GET"}
    assert nf["raw_path"] == "/ml/nope" and nf["root_path"] == "/ml"
    code, na = call(svc, "GET", "/infer")
    assert code == 405 and "POST" in na["error"]
    # a bare path (no prefix in root_path) routes the same
    assert call(svc, "GET", "/noop", root_path="") == (200, {"ok": True})


def test_torch_threads_arg_is_applied(keep_torch_threads: None) -> None:
    s = ml.MLService.func_or_class(model="mlp-smoke", torch_threads=1)
    assert call(s, "GET", "/probe", query="kernel=0")[1]["model"]["torch_threads"] == 1
    assert call(s, "GET", "/bench", query="iters=2&warmup=0")[1]["torch_threads"] == 1


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_direct_service_on_cuda() -> None:
    s = ml.MLService.func_or_class(model="mlp-smoke", device="cuda")
    code, p = call(s, "GET", "/probe")
    assert code == 200 and p["model"]["device"] == "cuda:0"
    assert p["model"]["tf32"] == {"matmul": True, "cudnn": True}
    assert p["kernel"]["ran"] and p["kernel"]["ok"], p["kernel"]
    # the probe kernel turned TF32 off for its check only
    assert torch.backends.cuda.matmul.allow_tf32 is True
    code, b = call(s, "GET", "/bench", query="batch=8&iters=5&warmup=2")
    assert code == 200 and b["timer"] == "cuda_event" and len(b["samples_ms"]) == 5
    assert b["device_name"] == torch.cuda.get_device_name(0)
    assert len(b["copy_samples_ms"]) == 5 and b["copy_timer"] == "perf_counter"
    # The host waits at least as long as the events say the device ran (launch + synchronize).
    assert all(h >= d * 0.99 for d, h in zip(b["samples_ms"], b["host_samples_ms"], strict=True))
    assert b["graph"] is False and b["timing"]["clock"] == "cuda_event"
    assert call(s, "GET", "/bench", query="iters=2&copies=0")[1]["copy_samples_ms"] is None
    code, g = call(s, "GET", "/bench", query="batch=8&iters=5&warmup=2&copies=0&graph=1")
    assert code == 200 and g["graph"] is True and g["graph_note"] == "CUDA graph replay", g.get("graph_note")
    assert len(g["samples_ms"]) == 5 and all(x > 0 for x in g["samples_ms"])
    code, out = call(s, "POST", "/infer", body=b'{"batch": 4}')
    local = models.run_inference(models.build_model("mlp-smoke", 0), torch.device("cpu"), 4)
    assert out["device"] == "cuda:0"
    # TF32 matmuls: ~1e-3 relative agreement with the fp32 CPU result
    assert out["checksum"] == pytest.approx(local["checksum"], abs=5e-3 * local["checksum_abs"])


def test_noop_service_direct() -> None:
    s = ml.NoopService.func_or_class()
    assert call(s, "GET", "/noop") == (200, {"ok": True})
    code, p = call(s, "GET", "/probe", query="kernel=0")
    assert code == 200 and p["service"] == "NoopService" and p["model"] is None
    assert p["pid"] == os.getpid()
    code, nf = call(s, "POST", "/infer", body=b"{}")
    assert code == 404 and set(nf["paths"]) == {"/probe", "/noop", "/healthz"}


def test_parse_ml_args() -> None:
    assert ml.parse_ml_args(None) == {"model": "mlp-smoke", "seed": 0, "device": "auto", "torch_threads": None}
    # values arrive as strings from `serve run module:app key=value`
    assert ml.parse_ml_args({"model": "mlp", "seed": "3", "device": "CUDA:1", "torch_threads": "4"}) == {
        "model": "mlp",
        "seed": 3,
        "device": "cuda:1",
        "torch_threads": 4,
    }


@pytest.mark.parametrize(
    "args, needle",
    [
        ({"model": "gpt-5"}, "mlp-smoke, mlp, bert-base, bert-smoke"),
        ({"modle": "mlp"}, "allowed: model, seed, device, torch_threads"),
        ({"device": "tpu"}, "allowed values: auto, cpu, cuda"),
        ({"seed": -1}, "seed"),
        ({"torch_threads": 0}, "torch_threads"),
        ({"seed": "one"}, "seed"),
    ],
)
def test_bad_args_fail_at_build_time(args: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError) as exc:
        ml.build_ml_service(args)
    assert needle in str(exc.value)


def test_builders_return_serve_applications() -> None:
    from ray import serve

    app = ml.build_ml_service({"model": "bert-smoke", "seed": 2})
    assert isinstance(app, serve.Application)
    assert isinstance(ml.build_noop_service({}), serve.Application)
    assert ml.MLService.name == "MLService" and ml.NoopService.name == "NoopService"
    with pytest.raises(ValueError):
        ml.build_noop_service({"model": "mlp"})


def test_entrypoints_do_not_import_gpuconf() -> None:
    """entrypoints/ travels alone as a Ray working_dir: a gpuconf import would break it there."""
    for f in (REPO / "entrypoints").glob("*.py"):
        text = f.read_text()
        assert "import gpuconf" not in text and "from gpuconf" not in text, f.name


# ---------------------------------------------------------------------------------------------
# One real Ray Serve deployment, entrypoints/ shipped alone as the working_dir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(url: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def serve_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ray = pytest.importorskip("ray")
    from ray import serve

    # Copy entrypoints/ alone into the working_dir, as on a real cluster: this also proves the
    # folder imports nothing from the rest of the repo.
    wd = tmp_path_factory.mktemp("working_dir")
    shutil.copytree(REPO / "entrypoints", wd / "entrypoints", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # Serve kills a proxy that is not ready within 5 s, and serve.start() then raises: on a loaded
    # 2-core runner (load 14 seen) its first proxy can take longer. Its processes inherit this env.
    env = pytest.MonkeyPatch()
    env.setenv("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60")
    # address="local": always a fresh cluster of our own, never someone's `ray start` cluster.
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        runtime_env={"working_dir": str(wd)},
        log_to_driver=False,
    )
    env.undo()
    port = _free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        # One app only: each replica is a Ray worker process, slow to start on a loaded 2-core
        # runner; NoopService shares MLService's plumbing and is covered by the direct tests.
        serve.run(ml.build_ml_service({"model": "mlp-smoke", "seed": 0}), name="ml_service", route_prefix="/ml")
        yield f"http://127.0.0.1:{port}"
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()


@pytest.mark.processes
def test_serve_round_trip(serve_url: str) -> None:
    import ray

    code, p = _http(serve_url + "/ml/probe")
    assert code == 200, p
    # Read from inside the replica: another process on the driver's (only) node.
    assert p["node_id"] == ray.get_runtime_context().get_node_id()
    assert p["pid"] != os.getpid()
    assert p["actor_id"] and p["replica_id"]
    assert (p["deployment"], p["app"], p["service"]) == ("MLService", "ml_service", "MLService")
    assert p["node_labels"].get("ray.io/node-id") == p["node_id"]  # labels really read (Ray 2.60)
    # The replica reserved no GPU and must see none.
    assert p["gpu_ids"] == [] and p["accelerator_ids"].get("GPU") == []
    assert p["assigned_resources"] == {"CPU": 1.0}
    assert p["errors"] == []
    if not CUDA:
        assert p["kernel"] == {"ran": False, "reason": "no CUDA device visible"}
    assert p["model"]["name"] == "mlp-smoke" and p["model"]["device"] == ("cuda:0" if CUDA else "cpu")

    code, inf = _http(serve_url + "/ml/infer", json.dumps({"batch": 5}).encode())
    assert code == 200, inf
    local = models.run_inference(models.build_model("mlp-smoke", 0), torch.device("cpu"), 5)
    assert inf["output_shape"] == [5, 10] and inf["replica_id"] == p["replica_id"]
    # Same seed, same weights, same inputs: the replica's answer equals the local one (up to
    # float summation order, the replica runs with another thread count).
    assert inf["checksum"] == pytest.approx(local["checksum"], abs=1e-5 * local["checksum_abs"])
    assert inf["checksum_abs"] == pytest.approx(local["checksum_abs"], rel=1e-5)

    code, b = _http(serve_url + "/ml/bench?batch=1&iters=10&warmup=2")
    assert code == 200, b
    assert len(b["samples_ms"]) == 10 and all(s > 0 for s in b["samples_ms"])
    assert b["timer"] == ("cuda_event" if CUDA else "perf_counter")
    # entrypoints/timing.py travelled with the working_dir: both clocks come back.
    assert len(b["host_samples_ms"]) == 10 and b["timing"]["n"] == 10 and b["graph"] is False
    assert b["replica_id"] == p["replica_id"]
    assert b["flops_per_sample"] == models.MODEL_SPECS["mlp-smoke"].flops_per_sample
    # Ray sets OMP_NUM_THREADS to the replica's num_cpus (1), so torch runs single-threaded.
    assert b["torch_threads"] >= 1 and b["omp_num_threads"] is not None

    assert _http(serve_url + "/ml/noop") == (200, {"ok": True})
    code, nf = _http(serve_url + "/ml/nope")
    assert code == 404 and "/probe" in nf["paths"]
    # Serve 2.60 hands the replica the full path and the prefix in root_path.
    assert (nf["raw_path"], nf["root_path"]) == ("/ml/nope", "/ml")
