"""`python -m gpuconf.soak`: N embedded conformance runs under CPU load, interrupted at random moments.

Each run sits in its own PID namespace (unshare) whose init, gpuconf.soak.warden, counts the
processes, listening sockets, temp dirs and /dev/shm entries left after the run ended. The
seed fixes the signals and moments, so a short run is the same every time. Exit 1 on any
leak, hang or flake (a clean run that did not pass).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load(cores: int) -> list[subprocess.Popen[bytes]]:
    """Busy loops keeping `cores` cores busy (the CPU load generator)."""
    return [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(cores)]


def _plan(runs: int, clean: int, seed: int, window_s: tuple[float, float]) -> list[tuple[str, float]]:
    rng = random.Random(seed)
    plan = [("none", 0.0)] * clean
    plan += [(rng.choice(["SIGINT", "SIGTERM", "SIGKILL"]), round(rng.uniform(*window_s), 1)) for _ in range(runs)]
    return plan


def main(argv: list[str] | None = None) -> int:
    """Run the soak; print the table; 0 only when nothing leaked, hung or flaked."""
    ap = argparse.ArgumentParser(prog="python -m gpuconf.soak", description=__doc__)
    ap.add_argument("--runs", type=int, default=20, help="interrupted runs")
    ap.add_argument("--clean", type=int, default=20, help="runs left to finish (must pass)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--load", type=int, default=os.cpu_count() or 2, help="busy-loop processes (0: none)")
    ap.add_argument("--window", type=float, nargs=2, default=(5.0, 90.0), help="interrupt between these seconds")
    ap.add_argument(
        "--hang", type=float, default=300.0, help="a run (or its exit after a signal) longer than this hung"
    )
    ap.add_argument("--suite", default="suites/placement", help="what each run runs")
    args = ap.parse_args(argv)
    if shutil.which("unshare") is None:
        print("error: unshare (util-linux) is needed for the PID namespaces", file=sys.stderr)
        return 2
    # Outside /tmp: each run's /tmp is a private tmpfs, and its pytest report must outlive it.
    (ROOT / "reports").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="soak-", dir=ROOT / "reports"))
    load = _load(args.load)
    rows = []
    try:
        for i, (sig, delay) in enumerate(_plan(args.runs, args.clean, args.seed, tuple(args.window))):
            report = work / f"run-{i}.json"
            cmd = [
                "unshare",
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                sys.executable,
                "-m",
                "gpuconf.soak.warden",
                sig,
                str(delay),
                str(args.hang),
                str(report),
                "--",
                sys.executable,
                "-m",
                "pytest",
                args.suite,
                "-q",
                "-p",
                "no:cacheprovider",
                "--backend=embedded",
                f"--report-dir={work / f'reports-{i}'}",
            ]
            subprocess.run(cmd, cwd=ROOT, timeout=args.hang * 2 + 180)
            doc = json.loads(report.read_text())
            doc["flake"] = doc["signal"] == "none" and sig == "none" and doc["rc"] != 0
            rows.append(doc)
            print(_row(i, doc), flush=True)
    finally:
        for p in load:
            p.kill()
            p.wait()
    bad = [r for r in rows if r["hung"] or r["flake"] or r["processes"] or r["sockets"] or r["temp_dirs"] or r["shm"]]
    print(
        f"\nsoak: {len(rows)} runs ({args.clean} clean, {args.runs} interrupted, load {args.load} busy loops, "
        f"seed {args.seed}): {sum(len(r['processes']) for r in rows)} leaked processes, "
        f"{sum(len(r['temp_dirs']) for r in rows)} temp dirs, {sum(len(r['shm']) for r in rows)} /dev/shm, "
        f"{sum(r['hung'] for r in rows)} hangs, {sum(r['flake'] for r in rows)} flakes"
    )
    for r in bad:
        print(f"--- {r['signal']} at {r['delay_s']} s: {r['processes'][:8]} {r['temp_dirs']}\n{r['tail'][-600:]}")
    if not bad:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


def _row(i: int, r: dict) -> str:
    return (
        f"{i:>3} {r['signal']:<8} {r['delay_s']:>6.1f} rc={r['rc']!s:<4} {r['wall_s']:>6.1f}s "
        f"procs={len(r['processes'])} socks={len(r['sockets'])} tmp={len(r['temp_dirs'])} shm={len(r['shm'])}"
        f"{' HANG' if r['hung'] else ''}{' FLAKE' if r['flake'] else ''}"
        f"{'' if r.get('scratch') == 'private' else ' (' + str(r.get('scratch')) + ')'}"
    )


if __name__ == "__main__":
    sys.exit(main())
