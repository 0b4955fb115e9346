"""What every private network namespace of a local run shares: the flag, the off switch, who is inside."""

from __future__ import annotations

import os
from pathlib import Path

#: unshare(2)/setns(2) flag of a network namespace.
CLONE_NEWNET = 0x40000000
#: Off switch: a host where namespaces are not allowed keeps working, its exposure reported.
ENV_OFF = "GPUCONF_NO_NETNS"


def disabled() -> bool:
    """Whether the off switch keeps local runs in the host's network namespace."""
    return bool(os.environ.get(ENV_OFF))


def ns_inode(path: Path | str) -> int | None:
    """The inode of a namespace file (``/proc/PID/ns/net``, a bind mount under ``/run/netns``), or None."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def pids_in_namespace(ns_file: Path, kind: str) -> list[int]:
    """Every process whose ``kind`` namespace (``net``, ``mnt``) is the one ``ns_file`` names, this one excepted."""
    target = ns_inode(ns_file)
    if target is None:
        return []
    me = os.getpid()
    return [
        int(p)
        for p in os.listdir("/proc")
        if p.isdigit() and int(p) != me and ns_inode(f"/proc/{p}/ns/{kind}") == target
    ]
