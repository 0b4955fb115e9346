"""Give one process a pod's service-account files at the in-pod path, in a mount namespace of its own.

Run as ``unshare --mount --propagation private -- python -m gpuconf.backends.kwok.podmount SRC -- CMD...``:
in that private namespace a tmpfs covers ``/run`` (``/var/run``), which is what a container's
``/run`` is (nearly empty), the service-account folder is created inside that tmpfs, ``SRC``
(token, ca.crt, namespace) is bind-mounted there read-only, and CMD is exec'd (same pid).
Nothing is written to the host's ``/run``: the tmpfs and the bind mount live only in the
namespace and go with its last process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"podmount: mount {' '.join(args)} failed: {done.stderr.strip()}")


def enter(src: Path, argv: list[str], sa_dir: Path = SA_DIR) -> None:
    """Mount `src` at `sa_dir` over a private tmpfs and exec `argv` (does not return)."""
    # unshare exec'd this process, so its parent is still in the mount namespace it came from.
    if os.readlink("/proc/self/ns/mnt") == os.readlink(f"/proc/{os.getppid()}/ns/mnt"):
        # Outside a private namespace these mounts would land on the host: refuse.
        raise SystemExit("podmount: not in a mount namespace of its own (run it under `unshare --mount`)")
    run_dir = Path(os.path.realpath(sa_dir.parents[2]))  # /var/run -> /run
    _mount("-t", "tmpfs", "-o", "mode=0755,size=1m", "gpuconf-pod-run", str(run_dir))
    target = run_dir / sa_dir.relative_to(sa_dir.parents[2])
    target.mkdir(parents=True)
    _mount("--bind", str(src), str(target))
    _mount("-o", "remount,bind,ro", str(target))
    os.execvp(argv[0], argv)


def main(args: list[str]) -> None:
    """`SRC -- CMD...`."""
    if len(args) < 3 or args[1] != "--":
        raise SystemExit("usage: python -m gpuconf.backends.kwok.podmount SRC -- CMD...")
    enter(Path(args[0]), args[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
