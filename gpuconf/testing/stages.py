"""`make test`'s stages: run Make targets one after another and end with a table of their wall times.

``python3 -m gpuconf.testing.stages --report FILE TARGET...`` runs ``make TARGET`` for each target in
order, stops at the first that fails, and prints (and writes as JSON to FILE) each stage's wall
time, exit status and the load average at its start and end, whether the run passed or not.

``&TARGET`` starts a stage in the background at the lowest CPU priority (``nice -n 19``), so that
it takes only the CPU the foreground stages leave idle (the builds of a new machine while the
embedded tests wait on Ray); ``=TARGET`` waits for it, and its row says how long it ran and how
long the wait was. A background stage still running when the run stops is interrupted.
Standard library only: it runs before the virtualenv exists (the first stage creates it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Stage:
    """One Make target as it ran."""

    name: str
    wall_s: float
    rc: int
    load_start: float
    load_end: float


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def table(stages: list[Stage], skipped: list[str], total_s: float) -> str:
    """The closing table: one row a stage, then the stages not reached, then the total."""
    rows = [f"{'stage':<16} {'wall':>14} {'exit':>5}  load (start → end)"]
    for st in stages:
        rows.append(f"{st.name:<16} {_minutes(st.wall_s):>14} {st.rc:>5}  {st.load_start} → {st.load_end}")
    for name in skipped:
        rows.append(f"{name:<16} {'not run':>14}")
    rows.append(f"{'total':<16} {_minutes(total_s):>14}")
    return "\n".join(rows)


def terminal_signals() -> None:
    """In a child before exec: Ctrl-C and Ctrl-\\ as a terminal delivers them (the default action).

    A shell starts a background job with SIGINT ignored, and an ignored signal stays ignored through
    exec: every interrupt test below would then pass without being interrupted.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def _make(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, preexec_fn=terminal_signals)


def _wait(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # make passes the interrupt to the stage's own cleanup; wait for it, then report.
        proc.send_signal(signal.SIGINT)
        return proc.wait()


def run(targets: list[str], report: Path | None, make: str = "make") -> int:
    """Run each target; return the first non-zero exit status, else 0."""
    stages: list[Stage] = []
    background: dict[str, tuple[subprocess.Popen[bytes], float, float]] = {}
    t_all = time.monotonic()
    rc = 0
    done = 0
    try:
        for done, entry in enumerate(targets, start=1):  # noqa: B007 (done counts what ran)
            name = entry.lstrip("&=")
            load0, t0 = _load(), time.monotonic()
            if entry.startswith("&"):
                background[name] = (
                    subprocess.Popen(["nice", "-n", "19", make, "--no-print-directory", name]),
                    t0,
                    load0,
                )
                continue
            if entry.startswith("="):
                proc, started, load_bg = background.pop(name)
                rc = _wait(proc)
                waited = time.monotonic() - t0
                stages.append(Stage(f"{name} (bg)", round(time.monotonic() - started, 1), rc, load_bg, _load()))
                stages.append(Stage(f"  wait for {name}", round(waited, 1), rc, load0, _load()))
            else:
                rc = _wait(_make([make, "--no-print-directory", name]))
                stages.append(Stage(name, round(time.monotonic() - t0, 1), rc, load0, _load()))
            if rc != 0:
                break
    finally:
        for proc, _, _ in background.values():  # stopped early: no background build outlives the run
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                _wait(proc)
    total = time.monotonic() - t_all
    skipped = [t for t in targets[done:] if not t.startswith("&")]
    print(f"\n== make test: stages ({'passed' if rc == 0 else 'FAILED'})\n{table(stages, skipped, total)}", flush=True)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        doc = {"rc": rc, "total_s": round(total, 1), "stages": [asdict(s) for s in stages], "not_run": skipped}
        report.write_text(json.dumps(doc, indent=2))
    return rc


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--report FILE TARGET...``."""
    ap = argparse.ArgumentParser(prog="python3 -m gpuconf.testing.stages", description=__doc__)
    ap.add_argument("--report", type=Path, default=None, help="write the stages as JSON here")
    ap.add_argument("targets", nargs="+", help="Make targets, run in order")
    args = ap.parse_args(argv)
    return run(args.targets, args.report, os.environ.get("MAKE", "make"))


if __name__ == "__main__":
    sys.exit(main())
