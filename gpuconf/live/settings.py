"""What a run is pointed at: the settings every backend starts from (no pytest here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """What this run is pointed at."""

    backend: str  # a name of gpuconf.backends.registry, `auto` already resolved
    manifests: Path
    nodes: Path | None
    expect: Path | None
    kubeconfig: str | None
    report_dir: Path
    timeout_scale: float
    strict: bool
    require_cuda: bool
    model: str | None
    label_gpu_nodes: bool = False
    keep_on_failure: bool = False
    allow_scaling: bool = False  # cluster backend: the scaling checks may change the cluster's size
    scaling_budget_s: float = 600.0  # cluster backend: seconds the scaling checks may take together
    # cluster backend: upload gpuconf's entrypoints/ for apps importing `entrypoints.*` (the reference service)
    ship_entrypoints: bool = False
    backend_reason: str = ""  # why this backend runs (shown in the header and the summary)


#: This checkout: its manifests/ and overlays/ are gpuconf's own reference manifests.
REPO_ROOT = Path(__file__).resolve().parents[2]


def is_reference_manifests(manifests: Path) -> bool:
    """Whether `manifests` are gpuconf's own (under this checkout's manifests/ or overlays/).

    Only then is gpuconf's `entrypoints/` shipped to a cluster by default (--ship-entrypoints=auto).
    """
    where = manifests.resolve()
    return any(where.is_relative_to(REPO_ROOT / folder) for folder in ("manifests", "overlays"))
