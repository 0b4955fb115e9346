"""Benchmark sizes from ``benchmarks/config.yaml``: which models, batches, iterations and budgets.

Models are named by family (``mlp``, ``transformer``) so test ids stay the same across profiles;
each profile maps a family to a concrete reference model (``mlp-smoke`` or ``mlp``, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROFILES = ("smoke", "realistic")


@dataclass(frozen=True)
class Budget:
    """How many timed repetitions: ``count`` at most, ``least`` at least, and no more than fit in
    ``budget_s`` at the estimated latency (so a 10 s CPU forward does not run 200 times)."""

    count: int
    warmup: int
    least: int
    budget_s: float

    def plan(self, estimate_ms: float) -> tuple[int, int]:
        """``(count, warmup)`` for a step that takes about ``estimate_ms``."""
        fit = math.floor(self.budget_s * 1e3 / estimate_ms) if estimate_ms > 0 else self.count
        count = max(self.least, min(self.count, fit))
        # Warm-up scales down with the count: a slow step is warm after one or two runs.
        warmup = min(self.warmup, max(1, count // 3)) if self.warmup else 0
        return count, warmup


@dataclass(frozen=True)
class Profile:
    """One benchmark size."""

    name: str
    models: dict[str, str]  # family -> reference model
    in_replica: Budget
    end_to_end: Budget
    noop: Budget


@dataclass(frozen=True)
class BenchConfig:
    """The whole of benchmarks/config.yaml."""

    profile: str  # "auto", "smoke" or "realistic"
    batches: tuple[int, ...]
    families: tuple[str, ...]
    profiles: dict[str, Profile]
    cpu_group: str | None
    cpu_num_cpus: float | None
    cpu_torch_threads: int | None

    def resolve(self, requested: str | None, physical_gpu: bool) -> Profile:
        """The profile to run: an explicit one, or for ``auto`` realistic on a physical GPU, else smoke."""
        name = requested or self.profile
        if name == "auto":
            name = "realistic" if physical_gpu else "smoke"
        if name not in self.profiles:
            raise ValueError(f"unknown benchmark profile {name!r}; allowed: auto, {', '.join(self.profiles)}")
        return self.profiles[name]


def _budget(doc: dict[str, Any], count_key: str, warmup_key: str, least_key: str, where: str) -> Budget:
    try:
        b = Budget(
            int(doc[count_key]),
            int(doc.get(warmup_key, 0)),
            int(doc.get(least_key, 1)),
            float(doc.get("budget_s", 1e9)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"{where}: needs {count_key} (int), optional {warmup_key}, {least_key}, budget_s: {exc}"
        ) from None
    if b.count < 1 or b.least < 1 or b.warmup < 0 or b.budget_s <= 0:
        raise ValueError(f"{where}: counts must be >= 1, warm-up >= 0 and budget_s > 0, got {b}")
    return b


def load_config(path: Path) -> BenchConfig:
    """Parse and check benchmarks/config.yaml (a bad file fails with the key that is wrong)."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    profiles: dict[str, Profile] = {}
    families: list[str] = []
    for name in PROFILES:
        p = (doc.get("profiles") or {}).get(name)
        if not isinstance(p, dict):
            raise ValueError(f"{path}: profiles.{name} is missing")
        models = {str(k): str(v) for k, v in (p.get("models") or {}).items()}
        if not models:
            raise ValueError(f"{path}: profiles.{name}.models must map families to models")
        families += [f for f in models if f not in families]
        profiles[name] = Profile(
            name,
            models,
            _budget(p.get("in_replica") or {}, "iters", "warmup", "min_iters", f"{path}: profiles.{name}.in_replica"),
            _budget(
                p.get("end_to_end") or {},
                "rounds",
                "warmup_rounds",
                "min_rounds",
                f"{path}: profiles.{name}.end_to_end",
            ),
            _budget(p.get("noop") or {}, "rounds", "warmup_rounds", "min_rounds", f"{path}: profiles.{name}.noop"),
        )
    for name, p in profiles.items():
        missing = [f for f in families if f not in p.models]
        if missing:
            raise ValueError(f"{path}: profiles.{name}.models lacks {missing} (every profile names every family)")
    batches = tuple(int(b) for b in doc.get("batches") or (1, 8, 64))
    if not batches or any(b < 1 for b in batches):
        raise ValueError(f"{path}: batches must be positive integers, got {batches}")
    profile = str(doc.get("profile", "auto"))
    if profile != "auto" and profile not in profiles:
        raise ValueError(f"{path}: profile must be auto, smoke or realistic, got {profile!r}")
    cpu = doc.get("cpu_twin") or {}
    return BenchConfig(
        profile=profile,
        batches=batches,
        families=tuple(families),
        profiles=profiles,
        cpu_group=cpu.get("group") or None,
        cpu_num_cpus=float(cpu["num_cpus"]) if cpu.get("num_cpus") is not None else None,
        cpu_torch_threads=int(cpu["torch_threads"]) if cpu.get("torch_threads") is not None else None,
    )
