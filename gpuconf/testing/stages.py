"""`make test`'s stages: Make targets in lanes that run side by side, and a table of their times.

``python3 -m gpuconf.testing.stages --report FILE ENTRY...`` runs each entry in order and prints (and
writes as JSON to FILE) each stage's lane, start, wall time, exit status, the load average at its
start and end and how busy the host's CPUs were while it ran, whether the run passed or not.

- ``TARGET`` runs ``make TARGET`` in the foreground (lane ``main``), its output on the terminal.
- ``&LANE:T1,T2,...`` starts a lane in the background: ``make T1``, then ``T2``, ... one after
  another. Its output goes to ``LANE.log`` beside FILE (the tail is printed when a stage fails). A
  target written ``~T`` runs at the lowest CPU priority (``nice -n 19``), so that it takes only the
  CPU the other lanes leave idle (the Go builds of a new machine). ``&T`` is short for ``&T:T``.
- ``=LANE`` waits for the lane; inside a lane's list (``&B:=A,T``) lane B waits for lane A first,
  and does not run on when A failed.

Most of ``make test`` waits on Ray's, the autoscaler's and the control plane's timers (a live stage
keeps the host's CPUs about a quarter busy), so lanes that share no state overlap on 2 cores.
A failing stage ends its own lane; the other lanes run to their end (their verdicts are the
diagnostics), then the run fails with the first failure's status. Ctrl-C or SIGTERM stops every
lane. Standard library only: it runs before the virtualenv exists (the first stage creates it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

MAIN = "main"
_TAIL_LINES = 120


@dataclass
class Stage:
    """One Make target as it ran."""

    name: str
    wall_s: float
    rc: int
    load_start: float
    load_end: float
    lane: str = MAIN
    start_s: float = 0.0
    cpu_busy_pct: float | None = None


@dataclass
class Lane:
    """Targets run one after another, in the background or in the foreground."""

    name: str
    targets: list[str]
    log: Path | None = None
    stages: list[Stage] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    rc: int = 0
    proc: subprocess.Popen[bytes] | None = None
    # Set when the lane has ended. Waited on rather than Thread.join(): a join cut short by Ctrl-C
    # can return at once the next time (CPython), and the lane's last row would then be lost.
    done: threading.Event = field(default_factory=threading.Event)

    def wait_done(self) -> None:
        """Until the lane has ended (a started lane always ends: its stage is interrupted if need be)."""
        while not self.done.wait(0.5):
            pass


def parse_lane(entry: str) -> Lane:
    """``&LANE:T1,~T2`` (or ``&T``) as a lane; the leading ``&`` is optional here."""
    body = entry.lstrip("&")
    name, colon, rest = body.partition(":")
    targets = [t for t in (rest if colon else name).split(",") if t]
    if not name or not targets:
        raise SystemExit(f"error: stage entry {entry!r}: expected &LANE:TARGET[,TARGET...] or &TARGET")
    return Lane(name.lstrip("~"), targets)


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of every CPU since boot, from /proc/stat; None where it cannot be read."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """How busy the host's CPUs were between two readings of `_cpu_times`, in percent of all of them."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 1)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def table(stages: list[Stage], skipped: list[str], total_s: float) -> str:
    """The closing table: one row a stage in the order they started, the stages not reached, the total."""
    rows = [f"{'stage':<26} {'lane':<8} {'start':>7} {'wall':>14} {'exit':>5} {'cpu':>5}  load (start → end)"]
    for st in sorted(stages, key=lambda s: s.start_s):
        cpu = "-" if st.cpu_busy_pct is None else f"{st.cpu_busy_pct:.0f}%"
        rows.append(
            f"{st.name:<26} {st.lane:<8} {st.start_s:>6.0f}s {_minutes(st.wall_s):>14} {st.rc:>5} {cpu:>5}"
            f"  {st.load_start} → {st.load_end}"
        )
    for name in skipped:
        rows.append(f"{name:<26} {'':<8} {'':>7} {'not run':>14}")
    rows.append(f"{'total':<26} {'':<8} {'':>7} {_minutes(total_s):>14}")
    return "\n".join(rows)


def terminal_signals() -> None:
    """In a child before exec: Ctrl-C and Ctrl-\\ as a terminal delivers them (the default action).

    A shell starts a background job with SIGINT ignored, and an ignored signal stays ignored through
    exec: every interrupt test of the child would then pass without being interrupted.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


class Runner:
    """The lanes of one run, their stages and the run's clock."""

    def __init__(self, make: str, log_dir: Path | None) -> None:
        self.make = make
        self.log_dir = log_dir
        self.t0 = time.monotonic()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.lanes: dict[str, Lane] = {}

    def run_lane(self, lane: Lane, out: IO[bytes] | None) -> None:
        """Each target of `lane` in order, until one fails or the run is stopped."""
        for i, target in enumerate(lane.targets):
            name = target.lstrip("~")
            if self.stopping.is_set() or lane.rc != 0:
                lane.not_run.extend(t.lstrip("~") for t in lane.targets[i:])
                return
            if target.startswith("="):
                self.wait_lane(lane, self.lanes[target[1:]])
                continue
            argv = [self.make, "--no-print-directory", name]
            if target.startswith("~"):
                argv = ["nice", "-n", "19", *argv]
            load0, cpu0, t0 = _load(), _cpu_times(), time.monotonic()
            with self.lock:
                if self.stopping.is_set():  # stop() holds the lock while it picks the stages to interrupt
                    lane.not_run.extend(t.lstrip("~") for t in lane.targets[i:])
                    return
                # A process group of its own: an interrupt reaches the whole stage (make passes
                # SIGINT to no child of its own), and nothing of a stage reads the terminal.
                lane.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, process_group=0)
            rc = self.wait(lane.proc)
            stage = Stage(
                name, round(time.monotonic() - t0, 1), rc, load0, _load(), lane.name,
                round(t0 - self.t0, 1), busy_pct(cpu0, _cpu_times()),
            )  # fmt: skip
            lane.stages.append(stage)
            lane.rc = rc
            if lane.name != MAIN:
                verdict = "passed" if rc == 0 else f"FAILED (exit {rc}; output in {lane.log})"
                print(f"[{lane.name}] {name} {verdict} in {_minutes(stage.wall_s)}", flush=True)

    def wait_lane(self, waiter: Lane, lane: Lane) -> None:
        """`waiter` waits for `lane` to end (a row of its own); a failed `lane` ends `waiter` too."""
        t0, load0 = time.monotonic(), _load()
        lane.wait_done()
        waiter.stages.append(
            Stage(f"wait for {lane.name}", round(time.monotonic() - t0, 1), lane.rc, load0, _load(), waiter.name,
                  round(t0 - self.t0, 1))
        )  # fmt: skip
        waiter.rc = waiter.rc or lane.rc

    def start(self, lane: Lane) -> None:
        """Start `lane` in a thread of its own, its output in its log file (or on the terminal)."""
        out: IO[bytes] | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            lane.log = self.log_dir / f"{lane.name}.log"
            out = lane.log.open("wb")
        self.lanes[lane.name] = lane
        print(f"[{lane.name}] started: {', '.join(t.lstrip('~') for t in lane.targets)}", flush=True)
        threading.Thread(target=self._run_to_end, args=(lane, out), daemon=True).start()

    def _run_to_end(self, lane: Lane, out: IO[bytes] | None) -> None:
        try:
            self.run_lane(lane, out)
        finally:
            lane.done.set()

    def wait(self, proc: subprocess.Popen[bytes]) -> int:
        """`proc`'s exit status; an interrupt is passed on to it (make runs the stage's own cleanup)."""
        try:
            return proc.wait()
        except KeyboardInterrupt:
            self.stopping.set()
            return interrupt(proc)

    def stop(self, lanes: list[Lane]) -> None:
        """Interrupt every lane still running (as Ctrl-C would) and wait for each to clean up."""
        self.stopping.set()
        with self.lock:
            running = [lane.proc for lane in lanes if lane.proc is not None and lane.proc.poll() is None]
        for proc in running:
            _signal_group(proc, signal.SIGINT)
        for proc in running:
            interrupt(proc)
        for lane in lanes:
            lane.wait_done()


# How long a stage's own cleanup may take after Ctrl-C (a tier's teardown) before SIGTERM, then SIGKILL.
_GRACE_S = (90.0, 30.0)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def interrupt(proc: subprocess.Popen[bytes]) -> int:
    """Ctrl-C to a stage's process group and its exit status; SIGTERM, then SIGKILL, if it outlasts its grace."""
    for sig, grace in zip((signal.SIGINT, signal.SIGTERM), _GRACE_S, strict=True):
        _signal_group(proc, sig)
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            print(f"[make test] {proc.args!r}: still running {grace:.0f} s after {sig.name}", flush=True)
    _signal_group(proc, signal.SIGKILL)
    return proc.wait()


def _tail(path: Path | None) -> str:
    if path is None or not path.exists():
        return ""
    lines = path.read_text(errors="replace").splitlines()[-_TAIL_LINES:]
    return "\n".join(lines)


def _sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run(entries: list[str], report: Path | None, make: str = "make") -> int:
    """Run the entries; return the first non-zero exit status (in the order stages ended), else 0."""
    runner = Runner(make, report.parent / "lanes" if report is not None else None)
    main = Lane(MAIN, [])
    background: dict[str, Lane] = {}
    waited: list[Lane] = []
    interrupted = False
    # Handled (not ignored) signals are reset to their default in each child: a stage gets Ctrl-C as
    # from a terminal even when this run was started with SIGINT ignored (a shell's background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    old_term = signal.signal(signal.SIGTERM, _sigterm)
    try:
        for entry in entries:
            if runner.stopping.is_set():
                raise KeyboardInterrupt
            if entry.startswith("&"):
                lane = parse_lane(entry)
                background[lane.name] = lane
                runner.start(lane)
            elif entry.startswith("="):
                lane = background[entry[1:]]
                runner.wait_lane(main, lane)  # an interrupt here leaves it in `background`: stopped below
                waited.append(background.pop(lane.name))
                if lane.rc != 0:
                    print(f"\n== [{lane.name}] failed; the last lines of {lane.log}:\n{_tail(lane.log)}", flush=True)
            elif main.rc != 0:
                main.not_run.append(entry)
            else:
                main.targets = [entry]
                runner.run_lane(main, None)
        if runner.stopping.is_set():
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        print("\n[make test] interrupted: stopping every lane", flush=True)
        interrupted = True
    finally:
        runner.stop(list(background.values()))  # interrupted, or never waited for: no lane outlives the run
        waited.extend(background.values())
        signal.signal(signal.SIGTERM, old_term)
    stages = main.stages + [s for lane in waited for s in lane.stages]
    # The first stage to fail gives the status (a signal's as a shell gives it); an interrupt gives 130.
    failed = sorted((s.start_s + s.wall_s, s.rc if s.rc > 0 else 128 - s.rc) for s in stages if s.rc != 0)
    rc = 130 if interrupted else (failed[0][1] if failed else 0)
    skipped = main.not_run + [t for lane in waited for t in lane.not_run]
    total = time.monotonic() - runner.t0
    print(f"\n== make test: stages ({'passed' if rc == 0 else 'FAILED'})\n{table(stages, skipped, total)}", flush=True)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        doc = {"rc": rc, "total_s": round(total, 1), "stages": [asdict(s) for s in stages], "not_run": skipped}
        report.write_text(json.dumps(doc, indent=2))
    return rc


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--report FILE ENTRY...``."""
    ap = argparse.ArgumentParser(prog="python3 -m gpuconf.testing.stages", description=__doc__)
    ap.add_argument("--report", type=Path, default=None, help="write the stages as JSON here (lane logs beside it)")
    ap.add_argument("entries", nargs="+", help="TARGET, &LANE:TARGET,..., =LANE (see above)")
    args = ap.parse_args(argv)
    return run(args.entries, args.report, os.environ.get("MAKE", "make"))


if __name__ == "__main__":
    sys.exit(main())
