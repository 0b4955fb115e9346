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

from gpuconf.host.namespaces import CLONE_NEWNET, ENV_OFF, disabled, ns_inode, pids_in_namespace

NAME = "gpuconf-kwok"
PATH = Path("/run/netns") / NAME


class NetnsError(RuntimeError):
    """The namespace could not be created or entered."""


def exists() -> bool:
    """Whether the namespace is there (created by an `up`, not yet deleted by a `down`)."""
    return ns_inode(PATH) is not None


def inside() -> bool:
    """Whether the calling thread is in the namespace."""
    here = ns_inode(f"/proc/self/task/{threading.get_native_id()}/ns/net")
    return here is not None and here == ns_inode(PATH)


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


def delete_if_unused() -> bool:
    """Delete the namespace when no other process is in it; True if it was deleted."""
    if not exists() or pids_in_namespace(PATH, "net"):
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
