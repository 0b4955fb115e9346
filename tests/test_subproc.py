"""The bounded child runner of the live regressions: a timeout is a failure that shows the child's output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from gpuconf.testing.subproc import SubprocessTimeout, run_bounded, tail

pytestmark = pytest.mark.processes
ROOT = Path(__file__).resolve().parents[1]

# A child that prints to both streams, leaves a grandchild holding its stdout, then sleeps: with
# subprocess.run(capture_output=True, timeout=...) the caller would wait for the grandchild.
SLEEPER = (
    "import subprocess, sys, time\n"
    "print('child says hello', flush=True)\n"
    "print('child complains', file=sys.stderr, flush=True)\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "print('grandchild', g.pid, flush=True)\n"
    "time.sleep(120)\n"
)


def test_a_timeout_fails_fast_with_the_tail_of_what_the_child_printed(tmp_path: Path) -> None:
    """Past its bound the child's whole group is stopped, and the failure carries stdout and stderr."""
    start = time.monotonic()
    with pytest.raises(SubprocessTimeout) as exc:
        run_bounded([sys.executable, "-c", SLEEPER], 3, tmp_path, grace_s=2)
    took = time.monotonic() - start
    msg = str(exc.value)
    assert "ran past its 3 s bound" in msg
    assert "child says hello" in msg and "child complains" in msg
    assert took < 60, f"took {took:.0f} s"  # 3 s + 2 s grace on an idle machine; the bound is what matters
    grandchild = int(next(line for line in msg.splitlines() if line.startswith("grandchild")).split()[1])
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    assert (tmp_path / "stdout.log").read_text().startswith("child says hello")


def test_a_child_that_ends_in_time_gives_its_code_and_output(tmp_path: Path) -> None:
    """No timeout: the exit code and both streams, as subprocess.run would give them."""
    done = run_bounded(
        [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"],
        60,
        tmp_path,
        env={**os.environ, "X": "1"},
    )
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")


def test_tail_keeps_the_end() -> None:
    """Long output is cut at the front: the end (where the failure is) stays."""
    assert tail("abcdef", 3) == "[...]def" and tail("abc", 3) == "abc"


def test_a_caller_killed_outright_takes_the_child_along(tmp_path: Path) -> None:
    """SIGKILL the process that called run_bounded: its child (in a session of its own) gets SIGTERM.

    Before, a killed caller (an xdist worker stopped by SIGTERM, which Python does not handle) left
    its nested pytest run, and that run's Ray cluster, running to the end of its own bound.
    """
    pid_file = tmp_path / "child.pid"
    child_code = tmp_path / "child.py"
    child_code.write_text(f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(300)\n")
    caller = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gpuconf.testing.subproc import run_bounded\n"
        f"run_bounded([sys.executable, {str(child_code)!r}], 300, Path({str(tmp_path / 'logs')!r}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", caller], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    assert psutil.pid_exists(child)
    proc.kill()
    proc.wait(10)
    gone = time.monotonic() + 10
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < gone, f"child {child} outlived its killed caller"
        time.sleep(0.1)
