"""Host plumbing: the network namespace, cgroups, processes by namespace, mounts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from gpuconf.host.namespaces import pids_in_namespace
from gpuconf.provision.realpods.layout import CGROUP_PARENT, DNS_IP, NETNS, NETNS_PATH, NODES, nsenter_net

CGROUP_V1 = Path("/sys/fs/cgroup")


def sh(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a short host command, capturing its output."""
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed ({out.returncode}): {out.stderr.strip()[:500]}")
    return out


def in_netns(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command inside the tier's network namespace (``nsenter --net=``)."""
    return sh([*nsenter_net(), *argv], check=check)


def create_netns() -> None:
    """The namespace with lo up, one /32 per node and the DNS address, forwarding on; no link out."""
    sh(["ip", "netns", "add", NETNS])
    in_netns(["ip", "link", "set", "lo", "up"])
    for ip in [n.ip for n in NODES] + [DNS_IP]:
        in_netns(["ip", "addr", "add", f"{ip}/32", "dev", "lo"])
    # Pods on the two node bridges reach each other, the nodes and the DNS through this namespace.
    in_netns(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])


def kill_all(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL whatever is left after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() and not _zombie(p) for p in pids):
            time.sleep(0.1)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def delete_netns() -> None:
    """Kill every process left in the namespace, then delete it."""
    kill_all(pids_in_namespace(NETNS_PATH, "net"))
    if NETNS_PATH.exists():
        sh(["ip", "netns", "delete", NETNS], check=False)


def cgroup_hierarchies() -> list[Path]:
    """The cgroup v1 hierarchies (cpu, memory, …, name=systemd), not the unified one."""
    if not CGROUP_V1.is_dir():
        return []
    return [p for p in sorted(CGROUP_V1.iterdir()) if p.is_dir() and not p.is_symlink() and p.name != "unified"]


def create_cgroup(path: str) -> None:
    """``path`` in every v1 hierarchy; cpuset needs cpus and mems copied from its parent."""
    for root in cgroup_hierarchies():
        current = root
        for part in path.strip("/").split("/"):
            parent, current = current, current / part
            current.mkdir(exist_ok=True)
            if root.name == "cpuset":
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    if not (current / knob).read_text().strip():
                        (current / knob).write_text((parent / knob).read_text())


def remove_cgroups() -> None:
    """Kill every task under the tier's cgroup parent, then remove the cgroups depth first."""
    for root in cgroup_hierarchies():
        top = root / CGROUP_PARENT
        if not top.is_dir():
            continue
        for _ in range(3):
            pids = []
            for tasks in top.rglob("cgroup.procs"):
                with contextlib.suppress(OSError):
                    pids += [int(x) for x in tasks.read_text().split()]
            if not pids:
                break
            kill_all(pids)
        for folder in [*sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)), top]:
            with contextlib.suppress(OSError):
                folder.rmdir()


def unmount_under(folder: Path) -> None:
    """Lazily unmount everything mounted at or below ``folder`` in this mount namespace."""
    prefix = str(folder.resolve())
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for target in sorted((m for m in mounts if m == prefix or m.startswith(prefix + "/")), key=len, reverse=True):
        sh(["umount", "-l", target], check=False)


def default_route() -> str:
    """The namespace's default route(s), '' when there is none."""
    return in_netns(["ip", "route", "show", "default"]).stdout.strip()


def links() -> list[str]:
    """The namespace's interface names."""
    out = in_netns(["ip", "-o", "link", "show"]).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
