"""Run a child process (a nested pytest run) with a real time bound and its output kept.

`subprocess.run(..., capture_output=True, timeout=...)` is not bounded: on a timeout it kills the
child only, then reads its pipes to EOF, and every grandchild that inherited them (raylets, Ray
workers) keeps them open, so the caller hangs with nothing printed. Here the child's output goes
to files, the child leads its own process group, and a timeout stops the whole group (SIGTERM,
so the child's own teardown runs, then SIGKILL) and fails with the tail of what it printed. A
caller killed outright (SIGKILL, or SIGTERM without a handler) takes the child along: it gets
SIGTERM when its parent dies.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from gpuconf.host.procs import stop_group, term_with_parent

TAIL_CHARS = 4000


@dataclass
class Finished:
    """A child that ended in time: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


class SubprocessTimeout(AssertionError):
    """A child ran past its time bound; the message carries the tail of its stdout and stderr.

    An AssertionError, so that pytest reports it as a failing test with that message.
    """


def tail(text: str, limit: int = TAIL_CHARS) -> str:
    """The last `limit` characters of `text` (marked when cut)."""
    return text if len(text) <= limit else "[...]" + text[-limit:]


def run_bounded(
    cmd: list[str],
    timeout_s: float,
    log_dir: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    grace_s: float = 20.0,
) -> Finished:
    """Run `cmd` to its end within `timeout_s`, its output in `log_dir`/{stdout,stderr}.log.

    On a timeout: SIGTERM to the child's process group, `grace_s` for its teardown, SIGKILL to
    what is left of the group, then SubprocessTimeout naming the command and the output tails.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / "stdout.log", log_dir / "stderr.log"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=term_with_parent,  # a caller killed outright takes the child (and its teardown) along
        )
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stopped = stop_group(proc, grace_s)
            raise SubprocessTimeout(
                f"`{' '.join(cmd)}` ran past its {timeout_s:g} s bound and was stopped "
                f"(exit {stopped}; output in {log_dir}).\n"
                f"--- stdout (tail) ---\n{tail(_read(out_path))}\n--- stderr (tail) ---\n{tail(_read(err_path))}"
            ) from None
        except BaseException:  # Ctrl-C of the caller: the child's group goes too
            stop_group(proc, grace_s)
            raise
    return Finished(rc, _read(out_path), _read(err_path))


def _read(path: Path) -> str:
    return path.read_bytes().decode(errors="replace")
