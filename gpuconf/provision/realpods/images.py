"""Images made locally, with no registry: docker-save tarballs imported into each containerd.

* pause: one static program (``build/fakegpu/pause``) that holds the sandbox and reaps children.
* ray: a Debian rootfs (``debootstrap --variant=minbase``) with ``wget`` (KubeRay's probes call
  it) and the shared libraries the host's Python needs. Ray itself is not copied in: the
  realpods manifests mount the host's interpreter and the virtual environment's
  site-packages read-only at :data:`SHARED_PYTHON` and :data:`SHARED_SITE` (each node binds
  them there in its mount namespace; see docs/realpods.md), and ``/usr/local/bin/{python3,
  ray,serve}`` use them. That keeps the image at ~230 MB instead of 5.3 GiB (PyPI's torch is the CUDA build).

Each tarball is cached under ``~/.cache/gpuconf/images`` by the hash of what went into it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from gpuconf.provision.kwok.versions import REPO_ROOT
from gpuconf.provision.realpods.layout import PAUSE_IMAGE, images_dir

DEBIAN_MIRROR = "http://deb.debian.org/debian"
#: wget for the probes; procps for ps; the rest are what the host interpreter links against.
ROOTFS_PACKAGES = (
    "wget",
    "procps",
    "libssl3",
    "libffi8",
    "libsqlite3-0",
    "libbz2-1.0",
    "liblzma5",
    "libreadline8",
    "libncursesw6",
    "libexpat1",
    "libtirpc3",
    "libuuid1",
    "libgdbm6",
    "zlib1g",
    "libstdc++6",
    "libgcc-s1",
)
#: The tags the reference manifests use; imported as local images so no pull is ever tried.
#: Where the pods see the host's interpreter prefix and the virtual environment's site-packages.
SHARED_PYTHON = "/opt/gpuconf/python"
SHARED_SITE = "/opt/gpuconf/site-packages"
RAY_TAGS = ("rayproject/ray:2.60.0-py311", "rayproject/ray:2.60.0-py311-gpu")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def host_python() -> tuple[Path, Path]:
    """(virtual environment, interpreter prefix) that the pods share read-only."""
    venv = Path(sys.prefix).resolve()
    base = Path(sys.base_prefix).resolve()
    return venv, base


def host_site_packages() -> Path:
    """The virtual environment's site-packages (bound at SHARED_SITE)."""
    venv, _ = host_python()
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def ensure_rootfs(suite: str) -> Path:
    """The debootstrap rootfs (cached by suite and package list)."""
    dest = images_dir() / f"rootfs-{_key(suite, DEBIAN_MIRROR, *ROOTFS_PACKAGES)}"
    if (dest / "usr" / "bin" / "wget").exists():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    _log(f"[images] debootstrap {suite} minbase -> {dest} (about 8 min cold)")
    subprocess.run(
        [
            "nice",
            "-n",
            "10",
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(ROOTFS_PACKAGES)}",
            suite,
            str(tmp),
            DEBIAN_MIRROR,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    shutil.rmtree(tmp / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    tmp.rename(dest)
    return dest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_image(layer_dir: Path, out: Path, tags: tuple[str, ...], config: dict[str, object]) -> Path:
    """A ``docker save`` tarball of one layer (the files of ``layer_dir``) with ``tags``."""
    work = out.with_name(out.name + ".d")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    layer = work / "layer.tar"
    subprocess.run(["tar", "-C", str(layer_dir), "--numeric-owner", "-cf", str(layer), "."], check=True)
    diff_id = _sha256(layer)
    (work / diff_id).mkdir()
    layer.rename(work / diff_id / "layer.tar")
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
    }
    config_bytes = json.dumps(image_config).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    (work / config_name).write_bytes(config_bytes)
    manifest = [{"Config": config_name, "RepoTags": list(tags), "Layers": [f"{diff_id}/layer.tar"]}]
    (work / "manifest.json").write_text(json.dumps(manifest))
    tmp = out.with_name(out.name + ".tmp")
    subprocess.run(["tar", "-C", str(work), "-cf", str(tmp), "."], check=True)
    tmp.rename(out)
    shutil.rmtree(work)
    return out


def ensure_pause_image(pause_binary: Path) -> Path:
    """The pause image tarball (cached by the binary's hash)."""
    out = images_dir() / f"pause-{_sha256(pause_binary)[:16]}.tar"
    if out.exists():
        return out
    layer = out.with_name(out.name + ".layer")
    shutil.rmtree(layer, ignore_errors=True)
    layer.mkdir(parents=True)
    shutil.copy2(pause_binary, layer / "pause")
    write_image(layer, out, (PAUSE_IMAGE,), {"Entrypoint": ["/pause"]})
    shutil.rmtree(layer)
    return out


def ensure_ray_image(suite: str) -> Path:
    """The Ray image tarball: the rootfs plus links into the shared host environment."""
    venv, base = host_python()
    rootfs = ensure_rootfs(suite)
    reqs = (REPO_ROOT / "requirements.txt").read_text()
    out = (
        images_dir()
        / f"ray-{_key(rootfs.name, str(venv), str(base), reqs, SHARED_PYTHON, SHARED_SITE, *RAY_TAGS, 'v2')}.tar"
    )
    if out.exists():
        return out
    _log(f"[images] writing the Ray image {out.name}")
    local = rootfs / "usr" / "local" / "bin"
    local.mkdir(parents=True, exist_ok=True)
    for name in ("ray", "serve", "python", "python3"):
        (local / name).unlink(missing_ok=True)
    # A symlink, so that the interpreter finds its prefix (and stdlib) under SHARED_PYTHON.
    os.symlink(f"{SHARED_PYTHON}/bin/python3.11", local / "python3")
    os.symlink("python3", local / "python")
    for name, entry in (("ray", "ray.scripts.scripts:main"), ("serve", "ray.serve.scripts:cli")):
        module, func = entry.split(":")
        (local / name).write_text(
            f"#!/usr/local/bin/python3\nimport sys\nfrom {module} import {func}\n"
            f"sys.argv[0] = {name!r}\nsys.exit({func}())\n"
        )
        (local / name).chmod(0o755)
    env = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG=C.UTF-8",
        f"PYTHONPATH={SHARED_SITE}",
        f"LD_LIBRARY_PATH={SHARED_PYTHON}/lib",
    ]
    write_image(rootfs, out, RAY_TAGS, {"Env": env, "Cmd": ["/bin/bash"], "WorkingDir": "/"})
    return out
