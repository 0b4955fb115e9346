"""`make test-cold`: `bash .ci/run` as a new machine runs it, from a fresh clone with empty caches.

The clone of HEAD goes to ``DIR/src`` (under /tmp by default, so a checkout there is tested too);
``HOME``, pip's, uv's, Go's (``GOPATH``, ``GOMODCACHE``, ``GOCACHE``) and gpuconf's caches point at empty
folders under ``DIR/home``, so every wheel, Go module and Debian image is downloaded and every
binary built, on the host's network, as on a new machine. Debian's packages are the host's own
(installing them is a step of ``make test``; nothing here removes them). The run's output goes to
``DIR/ci.log`` as it comes; the end is the stage table of ``make test`` with the total and the load,
also written to ``DIR/cold.json``. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gpuconf.testing.stages import terminal_signals

REPO = Path(__file__).resolve().parents[2]
MARKER = ".gpuconf-cold"


def cold_env(home: Path) -> dict[str, str]:
    """The environment of a new machine: this one's, with every cache under the empty ``home``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GPUCONF_", "PIP_", "UV_", "GO", "XDG_", "VIRTUAL_ENV"))
    }
    env.update(
        HOME=str(home),
        CI="true",
        GOPATH=str(home / "go"),
        GOMODCACHE=str(home / "go" / "pkg" / "mod"),
        GOCACHE=str(home / ".cache" / "go-build"),
        GOFLAGS="-modcacherw",  # the module cache can then be removed without chmod
        PIP_CACHE_DIR=str(home / ".cache" / "pip"),
        UV_CACHE_DIR=str(home / ".cache" / "uv"),
    )
    # pyenv's shims keep working with another HOME when their root is named.
    if Path("/root/.pyenv").is_dir() and "PYENV_ROOT" not in env:
        env["PYENV_ROOT"] = "/root/.pyenv"
    return env


def fresh_dir(folder: Path) -> None:
    """Empty ``folder`` when it is one of ours (it holds the marker), else refuse to touch it."""
    if folder.exists():
        if not (folder / MARKER).exists():
            raise SystemExit(
                f"error: {folder} exists and is not a test-cold folder (no {MARKER}); choose another --dir"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by make test-cold\n")


def run(folder: Path, source: Path = REPO) -> int:
    """Clone ``source`` into ``folder/src`` and run its ``.ci/run`` cold; return its exit status."""
    fresh_dir(folder)
    src, home = folder / "src", folder / "home"
    home.mkdir()
    subprocess.run(["git", "clone", "--quiet", str(source), str(src)], check=True)
    head = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    load0, t0 = os.getloadavg()[0], time.monotonic()
    print(f"[test-cold] {head.stdout.strip()} in {src}, HOME={home}; output in {folder / 'ci.log'}", flush=True)
    with (folder / "ci.log").open("w") as log:
        proc = subprocess.Popen(
            ["bash", ".ci/run"],
            cwd=src,
            env=cold_env(home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=terminal_signals,  # as a CI runner starts it, whatever started this
        )
        assert proc.stdout is not None
        in_table = False
        for line in proc.stdout:
            log.write(line)
            log.flush()
            in_table = in_table or line.startswith("== make test: stages")
            if in_table or line.startswith(("[build]", "[realpods]", "[up]")) or " passed" in line or "FAILED" in line:
                print(f"[test-cold {time.monotonic() - t0:7.0f}s] {line.rstrip()}", flush=True)
        rc = proc.wait()
    wall = time.monotonic() - t0
    stages_file = src / "reports" / "test" / "stages.json"
    stages = json.loads(stages_file.read_text()) if stages_file.exists() else {}
    doc = {
        "commit": head.stdout.strip(),
        "rc": rc,
        "wall_s": round(wall, 1),
        "load_start": round(load0, 1),
        "load_end": round(os.getloadavg()[0], 1),
        "stages": stages.get("stages", []),
    }
    (folder / "cold.json").write_text(json.dumps(doc, indent=2))
    print(
        f"[test-cold] .ci/run exit {rc} in {int(wall // 60)} min {wall % 60:.0f} s "
        f"(load {doc['load_start']} → {doc['load_end']}); stages in {folder / 'cold.json'}",
        flush=True,
    )
    return rc


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--dir DIR``."""
    ap = argparse.ArgumentParser(prog="python3 -m gpuconf.testing.cold", description=__doc__)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/gpuconf-cold"), help="the run's own folder (emptied)")
    args = ap.parse_args(argv)
    return run(args.dir)


if __name__ == "__main__":
    sys.exit(main())
