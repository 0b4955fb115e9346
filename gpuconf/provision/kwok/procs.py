"""Start, recognise and stop the background processes of the control plane.

Processes run in their own session (so a Ctrl-C of ``up`` does not kill them) with output
to a log file. A recorded pid is only trusted while ``/proc/<pid>/exe`` is still the binary
that was started, so a stale state directory never leads to signalling an unrelated process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Seconds between SIGTERM and SIGKILL, and then to wait for the kill.
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class Proc:
    """A started process: its name, pid, binary and log file."""

    name: str
    pid: int
    exe: str
    log: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "pid": self.pid, "exe": self.exe, "log": self.log}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Proc:
        return cls(str(data["name"]), int(str(data["pid"])), str(data["exe"]), str(data["log"]))


def spawn(name: str, argv: list[str], log: Path, env: Mapping[str, str] | None = None) -> Proc:
    """Start ``argv`` detached (new session), stdout+stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        sink.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        sink.flush()
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    return Proc(name, child.pid, os.path.realpath(argv[0]), str(log))


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own exited child (no-op otherwise)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def alive(proc: Proc) -> bool:
    """True when ``proc.pid`` runs and is still ``proc.exe`` (not a zombie, not a reused pid)."""
    _reap(proc.pid)
    try:
        exe = os.readlink(f"/proc/{proc.pid}/exe")
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return state != "Z" and exe.removesuffix(" (deleted)") == proc.exe


def stop(proc: Proc, grace: float = STOP_GRACE_S) -> bool:
    """SIGTERM ``proc`` (its process group), SIGKILL after ``grace`` s; True if it was running."""
    if not alive(proc):
        return False
    _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(proc):
            return True
        time.sleep(0.1)
    _signal(proc, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while alive(proc) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def _signal(proc: Proc, sig: signal.Signals) -> None:
    # spawn() made the process a session (and group) leader, so its group id is its pid.
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass


def log_tail(path: str | Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file (or a note that there is none)."""
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {path})"
    return f"--- last {min(lines, len(text))} lines of {path}:\n" + "\n".join(text[-lines:])
