"""The kwok configuration file: kwok's own default Stages, as kwokctl would install them.

The ``kwok`` binary alone simulates nothing: kwokctl normally writes the default Stages into
its config. We do the same with the Stage files copied from the kwok module at build time
(``<cache>/bin/kwok-<v>/stages``): node-initialize and node-heartbeat-with-lease make nodes
Ready and keep them so; pod-ready, pod-complete and pod-delete make bound pods Running/Ready
and let them finish and be deleted.

The file holds no ``KwokConfiguration`` document on purpose: kwok applies its option defaults
(e.g. ``nodeLeaseParallelism: 4``) only when none is given; options are passed as flags.
"""

from __future__ import annotations

from pathlib import Path

import yaml


def write_kwok_config(stage_dir: Path, dest: Path) -> Path:
    """Write a multi-document kwok config with every Stage in ``stage_dir``; return ``dest``."""
    stages = sorted(stage_dir.glob("*.yaml"))
    if not stages:
        raise FileNotFoundError(f"no kwok Stage files in {stage_dir}; rebuild kwok (`gpuconf kwok up`)")
    docs = []
    for path in stages:
        stage = yaml.safe_load(path.read_text())
        if stage.get("kind") != "Stage":
            raise ValueError(f"{path}: expected a kwok Stage, got kind {stage.get('kind')!r}")
        docs.append(path.read_text())
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("---\n".join(docs))
    return dest
