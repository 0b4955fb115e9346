"""Where a local run's Ray services listen: loopback only, or a network namespace with only `lo`.

Ray 2.60 has no knob for most of its listeners: `--node-ip-address=127.0.0.1` and
`--dashboard-host=127.0.0.1` (the launcher passes both) move the dashboard and the node's
advertised address to loopback, but the C++ gRPC servers (GCS, raylet node and object managers,
every core worker) listen on the wildcard address, and so do the dashboard agent's gRPC and
metrics servers; the runtime env agent and the Ray client server also listen on the node's
address. So the embedded run moves the thread that starts Ray into a network namespace of its
own that has only `lo` (`isolate()`): every Ray process inherits it, the suite (same thread:
ray.init, the dashboard and Serve requests) reaches them over that `lo`, and nothing outside
the namespace can reach any of them, wildcard or not.

`listeners()` and `exposed()` are the check: a listening socket is exposed unless it is on a
loopback address or inside a namespace whose only interface is `lo`.
"""

from __future__ import annotations

import ctypes
import fcntl
import ipaddress
import os
import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

from gpuconf.host.namespaces import CLONE_NEWNET, ENV_OFF, disabled

_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_isolated: dict[int, int] = {}  # thread id -> the netns inode it created


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket of a run's process."""

    pid: int
    process: str
    address: str
    port: int
    netns: str  # e.g. "net:[4026532291]"
    netns_lo_only: bool

    @property
    def loopback(self) -> bool:
        """Bound to 127.0.0.0/8 or ::1 (also as an IPv4-mapped address)."""
        ip = ipaddress.ip_address(self.address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback

    def as_evidence(self) -> dict[str, object]:
        """For reports."""
        return {
            "pid": self.pid,
            "process": self.process,
            "address": f"{self.address}:{self.port}",
            "netns": self.netns,
            "netns_lo_only": self.netns_lo_only,
        }


def netns_of(pid: int | str) -> str:
    """The network namespace of a process ("self", or a thread as "self/task/TID")."""
    return os.readlink(f"/proc/{pid}/ns/net")


def interfaces_of(pid: int | str) -> list[str]:
    """The interfaces of the network namespace a process is in (from its /proc/PID/net/dev)."""
    with open(f"/proc/{pid}/net/dev") as fh:
        return [line.split(":", 1)[0].strip() for line in fh.readlines()[2:] if ":" in line]


def isolate() -> str | None:
    """Move the calling thread into a new network namespace with only `lo`, up; return why not, or None.

    Idempotent per thread. Processes this thread starts afterwards (and threads it creates)
    inherit the namespace; it lasts while any of them lives. It is not undone: sockets that were
    open before keep working, new connections from this thread reach only the namespace.
    """
    if disabled():
        return f"{ENV_OFF} is set"
    tid = threading.get_native_id()
    if tid in _isolated and _isolated[tid] == os.stat(f"/proc/self/task/{tid}/ns/net").st_ino:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        return f"unshare(CLONE_NEWNET) failed: {os.strerror(err)} (needs CAP_SYS_ADMIN)"
    _set_lo_up()
    _isolated[tid] = os.stat(f"/proc/self/task/{tid}/ns/net").st_ino
    return None


def _set_lo_up() -> None:
    """A new namespace's `lo` is down: bring it up (SIOCSIFFLAGS, as `ip link set lo up`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))


def isolated() -> bool:
    """Whether the calling thread is in a namespace `isolate()` made."""
    tid = threading.get_native_id()
    return _isolated.get(tid) == os.stat(f"/proc/self/task/{tid}/ns/net").st_ino


def listeners(pids: list[int]) -> list[Listener]:
    """Every listening TCP socket of these processes and their descendants.

    Read from each process's own /proc/PID/net/tcp{,6} (psutil reads the caller's namespace's
    table, and would miss every socket of a process in another one), matched to its socket fds.
    """
    procs: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs[pid] = root
            procs.update({c.pid: c for c in root.children(recursive=True)})
        except psutil.NoSuchProcess:
            continue
    out: list[Listener] = []
    for pid, proc in sorted(procs.items()):
        try:
            netns, lo_only, name = netns_of(pid), interfaces_of(pid) == ["lo"], proc.name()
            inodes = _socket_inodes(pid)
            table = _listening(pid)
        except (psutil.Error, OSError):
            continue  # gone meanwhile, or not ours to read
        out += [Listener(pid, name, ip, port, netns, lo_only) for inode, (ip, port) in table.items() if inode in inodes]
    return out


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def _listening(pid: int) -> dict[str, tuple[str, int]]:
    """inode -> (address, port) of the LISTEN sockets in the namespace of `pid` (state 0A)."""
    out: dict[str, tuple[str, int]] = {}
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A":
                hex_ip, hex_port = fields[1].split(":")
                raw = bytes.fromhex(hex_ip)
                # /proc prints the address as host-order 32-bit words
                packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                out[fields[9]] = (socket.inet_ntop(family, packed), int(hex_port, 16))
    return out


def exposed(found: list[Listener]) -> list[Listener]:
    """The listeners something outside this host's loopback could reach."""
    return [s for s in found if not (s.loopback or s.netns_lo_only)]
