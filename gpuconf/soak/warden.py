"""The init process of one soak run's PID namespace: run, interrupt, then count what was left.

Being PID 1 of the namespace, it sees every process the run started (orphans are
reparented to it), and the counts are taken before it exits, which kills them all. Its mount
namespace (unshare --mount-proc makes one, with private propagation) gets a fresh tmpfs on /tmp
and /dev/shm, so the temp dirs and shared-memory files counted are this run's alone, even with
other runs on the machine, and a concurrent `gpuconf cleanup` on the host never sees (and never
judges by a namespace-local pid) this run's owner record.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

SIGNALS = {"none": None, "SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


def _snapshot_tmp() -> set[str]:
    return {p.name for p in Path("/tmp").glob("gpc-*")}


def _snapshot_shm() -> set[str]:
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def kept_paths(paths: list[Path], under: Path) -> list[Path]:
    """The outermost of `paths` (resolved) that lie under `under`: what a fresh mount there must show again."""
    inside = sorted({p.resolve() for p in paths if p.resolve().is_relative_to(under.resolve())})
    return [p for p in inside if not any(p != q and p.is_relative_to(q) for q in inside)]


def private_scratch(keep: list[Path] | None = None) -> str:
    """Mount a fresh tmpfs on /tmp and /dev/shm in this mount namespace; "private" or why not.

    Each folder of `keep` under /tmp (the checkout, its venv) is bound back into the fresh /tmp at
    its own path, through a handle opened before the mount hid it, so a checkout anywhere still runs.
    """
    held = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in kept_paths(keep or [], Path("/tmp"))}
    try:
        for target in ("/tmp", "/dev/shm"):
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "mode=1777", f"gpuconf-soak-{Path(target).name}", target],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                return f"shared: mount tmpfs on {target}: {done.stderr.strip() or done.returncode}"
        for path, fd in held.items():
            path.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(
                ["mount", "--bind", "--no-canonicalize", f"/proc/{os.getpid()}/fd/{fd}", str(path)],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                return f"shared: bind {path} back over the private /tmp: {done.stderr.strip() or done.returncode}"
    finally:
        for fd in held.values():
            os.close(fd)
    return "private"


def _settle(limit_s: float) -> list[str]:
    """The processes still here once exiting ones had `limit_s` to finish (a run's reaper among them)."""
    me = os.getpid()
    deadline = time.monotonic() + limit_s
    while True:
        left = []
        for proc in psutil.process_iter(["pid", "name", "status"]):
            if proc.pid != me and proc.info["status"] != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid}:{proc.info['name']}")
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:  # PID 1 reaps the orphans it inherited
                pass
        except ChildProcessError:
            pass
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def main(argv: list[str]) -> int:
    """argv: <signal name> <delay s> <hang limit s> <report file> -- <command...>."""
    sig_name, delay, hang_s, report = argv[0], float(argv[1]), float(argv[2]), Path(argv[3])
    command = argv[argv.index("--") + 1 :]
    # Opened before /tmp is replaced, so a report path under the host's /tmp still works.
    out_file = report.open("w")
    # The command's interpreter and working folder (a checkout and venv under /tmp) stay visible.
    scratch = private_scratch([Path.cwd(), Path(command[0]).parent, Path(sys.prefix)])
    tmp0, shm0 = _snapshot_tmp(), _snapshot_shm()
    t0 = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sig = SIGNALS[sig_name]
    sent = False
    hung = False
    out = b""
    try:
        out, _ = child.communicate(timeout=delay if sig is not None else hang_s)
    except subprocess.TimeoutExpired:
        if sig is not None:
            child.send_signal(sig)
            sent = True
            try:
                out, _ = child.communicate(timeout=hang_s)
            except subprocess.TimeoutExpired:
                hung = True
        else:
            hung = True
        if hung:
            child.kill()
            out, _ = child.communicate()
    # No `gpuconf cleanup` here, even after SIGKILL: the run's reaper must leave nothing behind by itself.
    left = _settle(20.0)
    left_pids = {int(x.split(":")[0]) for x in left}
    sockets = [
        f"{c.laddr.ip}:{c.laddr.port}"
        for c in psutil.net_connections("inet")
        if c.status == psutil.CONN_LISTEN and c.pid in left_pids
    ]
    doc = {
        "signal": sig_name if sent else "none",
        "delay_s": delay,
        "rc": child.returncode,
        "hung": hung,
        "wall_s": round(time.monotonic() - t0, 1),
        "processes": left,
        "sockets": sockets,
        "temp_dirs": sorted(_snapshot_tmp() - tmp0),
        "shm": sorted(_snapshot_shm() - shm0),
        "scratch": scratch,
        "tail": out.decode(errors="replace")[-1500:],
    }
    with out_file:
        out_file.write(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
