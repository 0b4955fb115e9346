"""The kwok tier's network namespace: only `lo`, shared by the control plane and its clients.

Ray's C++ gRPC servers listen on the wildcard address whatever `--node-ip-address` says, and
`ray start --node-ip-address=127.0.0.1` advertises the host's own address instead
(`resolve_ip_for_localhost`). So the kwok tier, like the embedded one, keeps every process in a
namespace whose only interface is `lo`: `ControlPlane.up()` creates it (``ip netns add``) and
starts etcd, the API server, kwok and the operator inside; a client enters it before it connects
(`enter()`: the kwok backend, ``gpuconf kwok status``; ``gpuconf kwok exec -- CMD`` for any other
command). Local Ray nodes started by the backend inherit it, and nothing outside this host's
loopback can reach any of them.

`GPUCONF_NO_NETNS=1` (also the embedded tier's off switch) keeps the tier in the host's namespace,
on a machine without CAP_SYS_ADMIN; the loopback test then reports what is exposed.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from pathlib import Path

from gpuconf.live.namespaces import CLONE_NEWNET, ENV_OFF

NAME = "gpuconf-kwok"
PATH = Path("/run/netns") / NAME


class NetnsError(RuntimeError):
    """The namespace could not be created or entered."""


def disabled() -> bool:
    """Whether the off switch keeps the tier in the host's namespace."""
    return bool(os.environ.get(ENV_OFF))


def exists() -> bool:
    """Whether the namespace is there (created by an `up`, not yet deleted by a `down`)."""
    return PATH.exists() and _inode(PATH) is not None


def _inode(path: Path | str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def inside() -> bool:
    """Whether the calling thread is in the namespace."""
    here = _inode(f"/proc/self/task/{threading.get_native_id()}/ns/net")
    return here is not None and here == _inode(PATH)


def ensure() -> None:
    """Create the namespace with `lo` up, unless it exists or the off switch is set."""
    if disabled() or exists():
        return
    for argv in (["ip", "netns", "add", NAME], ["ip", "-n", NAME, "link", "set", "lo", "up"]):
        out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
        if out.returncode != 0:
            raise NetnsError(
                f"`{' '.join(argv)}` failed ({out.returncode}): {out.stderr.strip()[:300]}; "
                f"the kwok tier needs root (CAP_SYS_ADMIN) for its namespace, or set {ENV_OFF}=1 to run it "
                "in the host's namespace (its Ray services are then reachable from the network)"
            )


def enter() -> bool:
    """Move the calling thread into the namespace; False when there is none (or the switch is off).

    Threads and processes the caller starts afterwards inherit it. Idempotent.
    """
    if disabled() or not exists():
        return False
    if inside():
        return True
    fd = os.open(PATH, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetnsError(f"setns({PATH}) failed: {os.strerror(err)} (needs CAP_SYS_ADMIN)")
    finally:
        os.close(fd)
    return True


def others_inside() -> list[int]:
    """Pids of the processes in the namespace, this one excepted."""
    target = _inode(PATH)
    me = os.getpid()
    if target is None:
        return []
    return [
        int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me and _inode(f"/proc/{p}/ns/net") == target
    ]


def delete_if_unused() -> bool:
    """Delete the namespace when no other process is in it; True if it was deleted."""
    if not exists() or others_inside():
        return False
    subprocess.run(["ip", "netns", "delete", NAME], capture_output=True, check=False, timeout=30)
    return not exists()


def client_hint(server: str) -> str:
    """A hint for a loopback server that does not answer from here while the kwok namespace exists."""
    import ipaddress
    from urllib.parse import urlparse

    try:
        loopback = ipaddress.ip_address(urlparse(server).hostname or "").is_loopback
    except ValueError:
        loopback = urlparse(server).hostname == "localhost"
    if not loopback or disabled() or not exists() or inside():
        return ""
    return (
        f"; the kwok control plane listens inside network namespace {NAME}: run the command as `gpuconf kwok exec -- …`"
    )
