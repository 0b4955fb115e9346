"""The speedup gate: the GPU twin's in-replica p50 must beat the CPU twin's by a configured factor.

The gate judges model time (``/bench`` inside the replica), not end-to-end HTTP time: Serve's
few milliseconds per request would hide a sub-millisecond GPU forward, and the thresholds are
justified from model-time measurements (design.md's H100 table).

Decisions are ``pass``, ``fail`` or ``skip``, each with a reason. The gate only skips when no
GPU could have been used (a CPU-only host); a GPU twin that ran on the CPU while the host has a
GPU fails, and so does a twin that says it ran on ``cpu`` whatever the probe saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from gpuconf.live.cuda import without_cuda

Outcome = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class TwinResult:
    """What the gate needs of one twin: where the model ran and its in-replica median."""

    device: str  # torch device the bench ran on ("cuda:0", "cpu")
    device_name: str
    p50_ms: float
    physical_gpu: bool  # the replica's probe saw a CUDA device (torch.cuda.is_available())


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict for one model and batch, with the numbers behind it."""

    outcome: Outcome
    reason: str
    speedup: float | None = None
    required: float | None = None


@dataclass(frozen=True)
class Thresholds:
    """Required speedup factors per model and batch (``benchmarks/thresholds.yaml``)."""

    factors: dict[str, dict[int, float]]
    source: str = "benchmarks/thresholds.yaml"

    def factor(self, model: str, batch: int) -> tuple[float, str] | None:
        """The factor for ``(model, batch)`` and where it comes from, or None when none applies.

        A batch not listed takes the factor of the largest listed batch below it: the GPU's
        advantage grows with batch size, so that floor still holds.
        """
        by_batch = self.factors.get(model)
        if not by_batch:
            return None
        if batch in by_batch:
            return by_batch[batch], f"{self.source}: {model} batch {batch}"
        below = [b for b in by_batch if b < batch]
        if not below:
            return None
        b = max(below)
        return by_batch[b], f"{self.source}: {model} batch {b} (no entry for batch {batch})"


def load_thresholds(path: Path) -> Thresholds:
    """Read ``models: {<model>: {<batch>: <factor>}}``; factors must be > 1 (1x buys nothing)."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    factors: dict[str, dict[int, float]] = {}
    for model, batches in (doc.get("models") or {}).items():
        if not isinstance(batches, dict):
            raise ValueError(f"{path}: models.{model} must map batch sizes to factors, got {batches!r}")
        for batch, factor in batches.items():
            f = float(factor)
            if f <= 1.0:
                raise ValueError(f"{path}: models.{model}.{batch}: a speedup floor must be > 1, got {factor}")
            factors.setdefault(str(model), {})[int(batch)] = f
    return Thresholds(factors, str(path))


def speedup_gate(
    model: str,
    batch: int,
    gpu: TwinResult,
    cpu: TwinResult,
    thresholds: Thresholds,
    host_gpus: int,
    require_cuda: bool = False,
) -> GateDecision:
    """Judge one (model, batch): pass, fail or skip, with the reason.

    ``host_gpus`` is how many physical GPUs the cluster's hosts have (nvidia-smi); with none, a
    GPU twin without a device is expected and the gate skips (fails under ``require_cuda``).
    """
    where = f"GPU twin on {gpu.device} ({gpu.device_name})"
    if not cpu.device.startswith("cpu"):
        return GateDecision(
            "fail",
            f"the CPU twin ran on {cpu.device} ({cpu.device_name}), so there is no CPU "
            "reference to beat; it must run with device: cpu",
        )
    if not gpu.device.startswith("cuda"):
        if gpu.physical_gpu:
            return GateDecision(
                "fail",
                f"the GPU twin ran the model on {gpu.device} although its replica sees a "
                "CUDA device (the model stopped using the GPU)",
            )
        if host_gpus > 0:
            return GateDecision(
                "fail",
                f"the GPU twin ran the model on {gpu.device}: its replica sees no CUDA "
                f"device although the host has {host_gpus} GPU(s) (a replica silently on CPU)",
            )
        verdict = without_cuda(
            "no physical GPU: the GPU twin's replica sees no CUDA device and the host has "
            "none, so the speedup gate cannot run",
            require_cuda,
        )
        return GateDecision("fail" if verdict.outcome == "fail" else "skip", verdict.reason)
    found = thresholds.factor(model, batch)
    if found is None:
        return GateDecision(
            "skip",
            f"no speedup threshold for {model} batch {batch} in {thresholds.source} (the gate did not run; add one)",
        )
    required, source = found
    if gpu.p50_ms <= 0 or cpu.p50_ms <= 0:
        return GateDecision("fail", f"non-positive latency (GPU p50 {gpu.p50_ms} ms, CPU p50 {cpu.p50_ms} ms)")
    got = cpu.p50_ms / gpu.p50_ms
    numbers = (
        f"CPU p50 {cpu.p50_ms:.4g} ms / GPU p50 {gpu.p50_ms:.4g} ms = {got:.1f}x, "
        f"required >= {required:g}x ({source}); {where}"
    )
    if got >= required:
        return GateDecision("pass", numbers, got, required)
    return GateDecision("fail", "GPU too slow: " + numbers, got, required)


def decision_evidence(decision: GateDecision) -> dict[str, Any]:
    """The decision as plain data for the report."""
    return {
        "outcome": decision.outcome,
        "reason": decision.reason,
        "speedup": decision.speedup,
        "required": decision.required,
    }
