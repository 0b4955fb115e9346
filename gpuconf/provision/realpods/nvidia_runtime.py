"""A fake NVIDIA container runtime: runc, after exposing the GPUs NVIDIA_VISIBLE_DEVICES names.

The NVIDIA container toolkit's runtime is a runc wrapper that reads each container's
``NVIDIA_VISIBLE_DEVICES`` and adds those GPUs' device nodes to the OCI spec, whatever the
pod's resource limits say: that is why an image default of ``all`` (KubeRay issue 2098)
gives every GPU to a pod without a GPU limit on a GPU node. The realpods GPU node runs its
containers through this wrapper so that the same leak happens with the fake GPUs:
``all`` or a list of ``GPU-fake-<n>`` UUIDs becomes ``/dev/nvidia<n>`` (the host's
``/dev/null``, 1:3). Standard library only: containerd's shim execs it directly.
"""

from __future__ import annotations

import json
import os
import sys

REAL_RUNC = "/usr/sbin/runc"
UUID_PREFIX = "GPU-fake-"
NULL_MAJOR, NULL_MINOR = 1, 3


def wanted(value: str | None, count: int) -> list[int]:
    """The GPU indices NVIDIA_VISIBLE_DEVICES asks for (none for unset, ``void`` or ``none``)."""
    if value is None or value.strip() in ("", "void", "none"):
        return []
    if value.strip() == "all":
        return list(range(count))
    out = []
    for item in value.split(","):
        item = item.strip().removeprefix(UUID_PREFIX)
        if item.isdigit() and int(item) < count:
            out.append(int(item))
    return out


def expose(spec: dict, count: int) -> bool:
    """Add /dev/nvidia<n> for each wanted GPU to ``spec``; True when it changed."""
    env = dict(e.split("=", 1) for e in spec.get("process", {}).get("env", []) if "=" in e)
    indices = wanted(env.get("NVIDIA_VISIBLE_DEVICES"), count)
    if not indices:
        return False
    linux = spec.setdefault("linux", {})
    devices = linux.setdefault("devices", [])
    have = {d.get("path") for d in devices}
    for n in indices:
        path = f"/dev/nvidia{n}"
        if path not in have:
            devices.append(
                {
                    "path": path,
                    "type": "c",
                    "major": NULL_MAJOR,
                    "minor": NULL_MINOR,
                    "fileMode": 0o666,
                    "uid": 0,
                    "gid": 0,
                }
            )
    rules = linux.setdefault("resources", {}).setdefault("devices", [])
    rules.append({"allow": True, "type": "c", "major": NULL_MAJOR, "minor": NULL_MINOR, "access": "rwm"})
    return True


def _bundle(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg in ("--bundle", "-b") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--bundle="):
            return arg.split("=", 1)[1]
    return os.getcwd()


def main(argv: list[str]) -> None:
    """Rewrite the bundle's config.json on ``create``/``run``, then exec the real runc."""
    if "create" in argv or "run" in argv:
        config = os.path.join(_bundle(argv), "config.json")
        count = int(os.environ.get("GPUCONF_FAKE_GPUS", "2"))
        try:
            with open(config) as fh:
                spec = json.load(fh)
            if expose(spec, count):
                with open(config, "w") as fh:
                    json.dump(spec, fh)
        except (OSError, ValueError):
            pass  # not a container bundle: leave it to runc
    os.execv(REAL_RUNC, [REAL_RUNC, *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
