"""The GPU timing checks in one run, on a GPU host: in-replica latency against bare torch on the same card.

    .venv/bin/python benchmarks/gpu_checks.py [--out DIR] [--profile realistic] [--pytest-arg=-k ...]

In order, each step in its own process:

1. the CUDA unit tests (``tests/test_device_timing.py``, ``tests/test_entrypoint.py -k cuda``);
2. the embedded GPU benchmarks (``pytest benchmarks/test_latency.py --backend=embedded``, as
   ``make bench`` runs them, with ``--require-cuda``): in-replica device and host time, CUDA-graph
   replays, end to end through Serve, written to ``benchmark.json``;
3. ``benchmarks/bare_torch.py --devices cuda --compare benchmark.json``: the same models bare, the
   card's matmul peak, and the fidelity table (``bare_torch.json``);
4. ``fidelity.json`` and, printed last, the short table: per model and batch the bare and in-replica
   device p50, their ratio, within 10% or not, the replica's launch overhead and Serve's, achieved
   TFLOP/s and % of the measured peak, then the BERT-shape batch-64 headline.

Everything goes under ``--out`` (default ``$OUT`` when set, else ``reports/gpu``). Exit 0 when
every step passed and every row is within the tolerance, 1 otherwise, 2 when no CUDA device is
visible (nothing is run) or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable as a plain script from anywhere
    sys.path.insert(0, str(REPO))

from gpuconf.bench import fidelity  # noqa: E402

NO_CUDA_EXIT = 2


def parse_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> argparse.Namespace:
    """The command line; ``--out`` defaults to ``$OUT`` (from ``env``, default os.environ), else reports/gpu."""
    env = os.environ if env is None else env
    default_out = Path(env["OUT"]) if env.get("OUT") else REPO / "reports" / "gpu"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=default_out, help=f"where the JSON goes (default {default_out})")
    ap.add_argument("--profile", choices=("realistic", "smoke", "auto"), default="realistic", help="--bench-profile")
    ap.add_argument("--manifests", default="manifests", help="what the embedded backend runs (as `make bench`)")
    ap.add_argument("--pytest-arg", action="append", default=[], help="passed on to the benchmark's pytest")
    ap.add_argument("--budget-s", type=float, default=10.0, help="bare torch's time budget per model and batch")
    ap.add_argument("--with-cpu", action="store_true", help="bare torch on the CPU too (slow for BERT-base)")
    ap.add_argument("--tolerance", type=float, default=fidelity.DEFAULT_TOLERANCE, help="allowed |ratio - 1|")
    ap.add_argument("--no-unit", action="store_true", help="skip the CUDA unit tests")
    ap.add_argument("--step-timeout-s", type=float, default=1800.0, help="limit of each step")
    args = ap.parse_args(argv)
    if args.tolerance < 0 or args.budget_s <= 0 or args.step_timeout_s <= 0:
        ap.error("--tolerance must be >= 0, --budget-s and --step-timeout-s > 0")
    return args


def cuda_problem() -> str | None:
    """Why this host cannot run the checks (no CUDA device visible to torch), or None."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is pinned in requirements.txt
        return f"torch does not import: {exc}"
    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return (
        "no CUDA device visible: torch.cuda.is_available() is False "
        f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}, "
        f"CUDA_VISIBLE_DEVICES={'unset' if visible is None else repr(visible)}, "
        f"nvidia-smi {'found' if shutil.which('nvidia-smi') else 'not found'}); run this on a GPU host"
    )


def unit_command() -> list[str]:
    """The CUDA unit tests: the timing module's CUDA case and the replica on CUDA."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "tests/test_device_timing.py",
        "tests/test_entrypoint.py",
        "-k",
        "cuda",
        "-q",
    ]


def bench_command(args: argparse.Namespace) -> list[str]:
    """The embedded GPU benchmarks, as `make bench` runs them, writing benchmark.json under --out."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "benchmarks/test_latency.py",
        "--backend=embedded",
        f"--manifests={args.manifests}",
        f"--bench-profile={args.profile}",
        "--require-cuda",
        f"--report-dir={args.out / 'reports'}",
        f"--benchmark-json={args.out / 'benchmark.json'}",
        *args.pytest_arg,
    ]


def bare_command(args: argparse.Namespace, compare: bool) -> list[str]:
    """bare_torch.py on the card (and the CPU with --with-cpu), compared with benchmark.json when there is one."""
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "bare_torch.py"),
        "--devices",
        *(["cpu", "cuda"] if args.with_cpu else ["cuda"]),
        "--budget-s",
        f"{args.budget_s:g}",
        "--tolerance",
        f"{args.tolerance:g}",
        "--json",
        str(args.out / "bare_torch.json"),
    ]
    if compare:
        cmd += ["--compare", str(args.out / "benchmark.json")]
    return cmd


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def finish(out: Path, steps: Mapping[str, int], tolerance: float) -> tuple[str, bool]:
    """Judge what the steps wrote under ``out``; write fidelity.json; return the closing text and whether all passed."""
    bare = _read(out / "bare_torch.json").get("results") or []
    report = fidelity.compare(bare, fidelity.replica_rows(_read(out / "benchmark.json")), tolerance)
    head = fidelity.headline(bare)
    failed = [f"{name} (exit {rc})" for name, rc in steps.items() if rc != 0]
    ok = report.ok and not failed
    doc = {"ok": ok, "steps": dict(steps), "headline": head, **report.as_dict()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "fidelity.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = [
        "steps: " + ", ".join(f"{name} {'ok' if rc == 0 else f'FAILED (exit {rc})'}" for name, rc in steps.items()),
        "",
        fidelity.render(report),
        head,
        f"gpu_checks: {'PASS' if ok else 'FAIL'}" + (f": failed steps {', '.join(failed)}" if failed else ""),
    ]
    return "\n".join(lines), ok


def _run(name: str, cmd: list[str], timeout_s: float) -> int:
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    try:
        return subprocess.run(cmd, cwd=REPO, timeout=timeout_s, check=False).returncode
    except subprocess.TimeoutExpired:
        print(f"== {name}: stopped after {timeout_s:g} s", flush=True)
        return 124


def main(argv: Sequence[str] | None = None) -> int:
    """Run the steps; the short table comes last."""
    args = parse_args(argv)
    problem = cuda_problem()
    if problem:
        print(f"gpu_checks: {problem}", file=sys.stderr)
        return NO_CUDA_EXIT
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in ("benchmark.json", "bare_torch.json", "fidelity.json"):  # never judge a stale run's figures
        (args.out / stale).unlink(missing_ok=True)
    steps: dict[str, int] = {}
    if not args.no_unit:
        steps["cuda unit tests"] = _run("cuda unit tests", unit_command(), args.step_timeout_s)
    steps["embedded benchmarks"] = _run("embedded benchmarks", bench_command(args), args.step_timeout_s)
    compare = (args.out / "benchmark.json").exists()
    steps["bare torch"] = _run("bare torch", bare_command(args, compare), args.step_timeout_s)
    text, ok = finish(args.out, steps, args.tolerance)
    print(text, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
