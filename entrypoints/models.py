"""Reference models for the GPU conformance checks: plain torch, random weights, no downloads.

Every model is built from a fixed seed, so two processes (the test driver and a Serve
replica, or a CPU and a GPU replica) that build the same name with the same seed hold the
same weights and feed the same inputs. FLOPs are counted analytically from the shapes
(2 * in * out per linear layer, plus the attention matmuls), never measured.

This module is shipped alone with ``entrypoints/`` as a Ray working_dir: it must not import
the ``gpuconf`` package.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

try:
    from .stats import percentile
    from .timing import time_forwards
except ImportError:  # loaded as a top-level module (working_dir is entrypoints/ itself)
    from stats import percentile  # type: ignore[no-redef]
    from timing import time_forwards  # type: ignore[no-redef]

# Inputs come from their own generator, offset from the weight seed, so that changing the
# model's depth never changes the inputs drawn for the same seed.
_INPUT_SEED_OFFSET = 1_000_003

# Upper bounds that keep one request from exhausting a replica (bert-base at batch 4096 on
# CPU would run for minutes).
MAX_BATCH = 4096


@dataclass(frozen=True)
class ModelSpec:
    """The static description of one reference model: its shape and its FLOP count."""

    name: str
    kind: str  # "mlp" or "transformer"
    description: str
    # mlp: layer widths, input first; transformer: unused
    dims: tuple[int, ...] = ()
    # transformer shape
    d_model: int = 0
    n_heads: int = 0
    d_ffn: int = 0
    n_layers: int = 0
    seq_len: int = 0

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one input sample (without the batch dimension)."""
        if self.kind == "mlp":
            return (self.dims[0],)
        return (self.seq_len, self.d_model)

    @property
    def flops_per_sample(self) -> int:
        """Forward FLOPs for one sample, counted analytically (multiply-add = 2 FLOPs).

        Only matmuls are counted: biases, activations, softmax and layer norms are
        lower-order terms and are left out, as is usual for model FLOP counts.
        """
        if self.kind == "mlp":
            return sum(2 * a * b for a, b in zip(self.dims[:-1], self.dims[1:], strict=False))
        s, d, f = self.seq_len, self.d_model, self.d_ffn
        per_layer = (
            2 * s * d * (3 * d)  # Q, K, V projections
            + 2 * s * s * d  # Q @ K^T over all heads
            + 2 * s * s * d  # softmax(scores) @ V over all heads
            + 2 * s * d * d  # attention output projection
            + 2 * s * d * f  # FFN up
            + 2 * s * f * d  # FFN down
        )
        return self.n_layers * per_layer


MODEL_SPECS: dict[str, ModelSpec] = {
    "mlp-smoke": ModelSpec(
        name="mlp-smoke",
        kind="mlp",
        description="tiny MLP 64-256-256-10 for CI (a forward is well under 1 ms on CPU)",
        dims=(64, 256, 256, 10),
    ),
    "mlp": ModelSpec(
        name="mlp",
        kind="mlp",
        description="MLP 1024-4096-4096-1000",
        dims=(1024, 4096, 4096, 1000),
    ),
    "bert-base": ModelSpec(
        name="bert-base",
        kind="transformer",
        description="nn.TransformerEncoder with BERT-base shape: d 768, 12 heads, ffn 3072, "
        "12 layers, seq 128, float embeddings as input",
        d_model=768,
        n_heads=12,
        d_ffn=3072,
        n_layers=12,
        seq_len=128,
    ),
    "bert-smoke": ModelSpec(
        name="bert-smoke",
        kind="transformer",
        description="small nn.TransformerEncoder for CI: d 128, 4 heads, ffn 512, 2 layers, seq 32",
        d_model=128,
        n_heads=4,
        d_ffn=512,
        n_layers=2,
        seq_len=32,
    ),
}

MODEL_NAMES: tuple[str, ...] = tuple(MODEL_SPECS)


@dataclass
class ReferenceModel:
    """A built reference model: the module (eval mode, on CPU until moved), its input maker
    and its analytic FLOP count."""

    name: str
    seed: int
    spec: ModelSpec
    module: nn.Module
    flops_per_sample: int
    make_input: Callable[..., torch.Tensor] = field(repr=False)

    @property
    def param_count(self) -> int:
        """Number of parameters of the module."""
        return sum(p.numel() for p in self.module.parameters())

    def info(self) -> dict[str, Any]:
        """JSON-serialisable description of the model (no tensors)."""
        return {
            "name": self.name,
            "seed": self.seed,
            "description": self.spec.description,
            "param_count": self.param_count,
            "flops_per_sample": self.flops_per_sample,
            "sample_shape": list(self.spec.sample_shape),
        }


def _check_name(name: str) -> ModelSpec:
    spec = MODEL_SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown model {name!r}; allowed values: {', '.join(MODEL_NAMES)}")
    return spec


def _build_module(spec: ModelSpec) -> nn.Module:
    if spec.kind == "mlp":
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(spec.dims[:-1], spec.dims[1:], strict=False)):
            layers.append(nn.Linear(a, b))
            if i < len(spec.dims) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)
    layer = nn.TransformerEncoderLayer(
        d_model=spec.d_model,
        nhead=spec.n_heads,
        dim_feedforward=spec.d_ffn,
        dropout=0.0,  # eval mode disables it anyway; 0.0 keeps train-mode calls deterministic
        activation="gelu",
        batch_first=True,
    )
    # Nested tensors only help with padding masks, which we never pass.
    return nn.TransformerEncoder(layer, num_layers=spec.n_layers, enable_nested_tensor=False)


def build_model(name: str, seed: int = 0) -> ReferenceModel:
    """Build the reference model ``name`` with weights drawn from ``seed`` (on CPU, eval mode).

    Raises ValueError naming the allowed values when ``name`` is unknown. The global torch
    RNG state is left as it was.
    """
    spec = _check_name(name)
    seed = int(seed)
    # fork_rng(devices=[]) restores the CPU RNG afterwards without touching (or initialising)
    # CUDA, so building a model never perturbs the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = _build_module(spec)
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)

    def make_input(batch: int, device: Any = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Deterministic input batch of size ``batch``: drawn on CPU (so CPU and GPU replicas
        get bit-identical inputs), then moved to ``device``."""
        b = check_batch(batch)
        gen = torch.Generator(device="cpu")
        gen.manual_seed(seed + _INPUT_SEED_OFFSET)
        x = torch.randn((b, *spec.sample_shape), generator=gen, dtype=torch.float32)
        return x.to(device=device, dtype=dtype)

    return ReferenceModel(
        name=name,
        seed=seed,
        spec=spec,
        module=module,
        flops_per_sample=spec.flops_per_sample,
        make_input=make_input,
    )


def check_batch(batch: Any) -> int:
    """Validate a batch size: an int in [1, MAX_BATCH]; raises ValueError otherwise."""
    try:
        b = int(batch)
    except (TypeError, ValueError):
        raise ValueError(f"batch must be an integer, got {batch!r}") from None
    if isinstance(batch, float) and not batch.is_integer():
        raise ValueError(f"batch must be an integer, got {batch!r}")
    if not 1 <= b <= MAX_BATCH:
        raise ValueError(f"batch must be in [1, {MAX_BATCH}], got {b}")
    return b


# ---------------------------------------------------------------------------------------------
# Device selection and numerics settings


def resolve_device(device: str = "auto") -> torch.device:
    """Map "auto" | "cpu" | "cuda" | "cuda:N" to a torch.device.

    "auto" picks cuda:0 when CUDA is available, else cpu. An explicit "cuda" on a process
    that sees no CUDA device raises RuntimeError: a replica asked to run on a GPU must fail
    loudly rather than silently fall back to the CPU.
    """
    d = (device or "auto").strip().lower()
    if d == "auto":
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    if d == "cpu":
        return torch.device("cpu")
    if d == "cuda" or d.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device={device!r} was requested but this process sees no CUDA device "
                f"(torch.cuda.is_available() is False)"
            )
        return torch.device("cuda:0" if d == "cuda" else d)
    raise ValueError(f"unknown device {device!r}; allowed values: auto, cpu, cuda, cuda:N")


def enable_tf32() -> dict[str, bool | None]:
    """Allow TF32 for CUDA matmuls and cuDNN (the usual inference setting on Ampere and later)
    and return the resulting flags, so that outputs can say which numerics were used."""
    # Only the legacy flags are used, both to set and to read: PyTorch warns when the legacy
    # and the fp32_precision APIs are mixed in one process.
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return tf32_flags()


def tf32_flags() -> dict[str, bool | None]:
    """Current TF32 flags: {"matmul": bool, "cudnn": bool}."""
    out: dict[str, bool | None] = {}
    try:
        out["matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
    except Exception:  # pragma: no cover - defensive: flag API changed
        out["matmul"] = None
    try:
        out["cudnn"] = bool(torch.backends.cudnn.allow_tf32)
    except Exception:  # pragma: no cover
        out["cudnn"] = None
    return out


def device_name(device: torch.device) -> str:
    """Human name of a device: the CUDA device name, or "cpu"."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


# ---------------------------------------------------------------------------------------------
# Running and timing


def checksum(out: torch.Tensor) -> dict[str, float]:
    """Float checksums of an output tensor, summed in float64 on the CPU: the plain sum and
    the sum of absolute values (a scale for comparing sums that may be near zero)."""
    o = out.detach().to("cpu", torch.float64)
    return {"checksum": float(o.sum().item()), "checksum_abs": float(o.abs().sum().item())}


def run_inference(model: ReferenceModel, device: torch.device, batch: int) -> dict[str, Any]:
    """One forward of ``model`` (already on ``device``) on its deterministic batch."""
    b = check_batch(batch)
    x = model.make_input(b, device)
    with torch.inference_mode():
        out = model.module(x)
    return {
        "device": str(device),
        "batch": b,
        "output_shape": list(out.shape),
        **checksum(out),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(
    model: ReferenceModel,
    device: torch.device,
    batch: int,
    iters: int,
    warmup: int,
    include_copies: bool = False,
    graph: bool = False,
) -> dict[str, Any]:
    """Latency of ``iters`` forwards after ``warmup`` untimed ones, in milliseconds per forward.

    Each forward is timed on two clocks (``entrypoints.timing``): ``samples_ms`` is the device's
    time (CUDA events on CUDA, perf_counter on CPU) and ``host_samples_ms`` what the host waited
    for launch + synchronize; ``overhead_samples_ms`` is their difference (Python and kernel
    launches; 0 on CPU). Each forward is synchronised on its own: one isolated request's latency,
    not a pipelined throughput figure. The input is made on ``device`` once, so the samples are
    model time, not copy time. ``graph`` replays the forward as a CUDA graph (one launch); off
    CUDA, or when the capture fails, the forwards run eagerly and ``graph_note`` says why.

    With ``include_copies`` (CUDA only) each sample instead covers host→device copy + forward +
    device→host copy of the output, timed with perf_counter around a synchronised round trip,
    since the host side is part of what is measured (always eager).
    """
    b = check_batch(batch)
    iters, warmup = int(iters), int(warmup)
    if iters < 1 or warmup < 0:
        raise ValueError(f"iters must be >= 1 and warmup >= 0, got iters={iters}, warmup={warmup}")
    mod = model.module
    out: dict[str, Any] = {"batch": b, "iters": iters, "warmup": warmup}
    # Events record on the current device's stream: make the model's device current.
    dev_ctx = torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
    with torch.inference_mode(), dev_ctx:
        if include_copies:
            return {**out, "samples_ms": _time_round_trips(model, device, b, iters, warmup), "timer": "perf_counter"}
        x = model.make_input(b, device)
        timing = time_forwards(lambda: mod(x), device, iters=iters, warmup=warmup, graph=graph)
    return {
        **out,
        "samples_ms": timing.device_ms,
        "host_samples_ms": timing.host_ms,
        "overhead_samples_ms": timing.overhead_ms,
        "timer": timing.clock,
        "graph": timing.graph,
        "graph_note": timing.note,
        "timing": timing.summary(),
    }


def _time_round_trips(model: ReferenceModel, device: torch.device, batch: int, iters: int, warmup: int) -> list[float]:
    """perf_counter around host→device copy + forward + device→host copy, synchronised each time."""
    mod = model.module
    # Pinned host memory is what a serving stack would use for its input buffers.
    host_x = model.make_input(batch, "cpu")
    if device.type == "cuda":
        host_x = host_x.pin_memory()

    def step() -> None:
        out = mod(host_x.to(device, non_blocking=True))
        out.to("cpu")  # blocking copy back: the round trip ends here

    for _ in range(warmup):
        step()
    _sync(device)
    samples: list[float] = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        _sync(device)
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """min / median / p90 / mean of a list of millisecond samples (empty dict for none)."""
    if not samples_ms:
        return {}
    s = sorted(samples_ms)
    return {
        "min": s[0],
        "p50": percentile(s, 50),
        "p90": percentile(s, 90),
        "mean": sum(s) / len(s),
        "max": s[-1],
    }
