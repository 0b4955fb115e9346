"""The Settings a test starts a backend with: a plain run (no CUDA demand, scale 1), fields overridable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpuconf.live.settings import Settings


def run_settings(backend: str, manifests: Path, report_dir: Path, **over: Any) -> Settings:
    """Settings for `backend` on `manifests`, reporting to `report_dir`; `over` replaces any other field."""
    base: dict[str, Any] = dict(
        backend=backend,
        manifests=manifests,
        nodes=None,
        expect=None,
        kubeconfig=None,
        report_dir=report_dir,
        timeout_scale=1.0,
        strict=False,
        require_cuda=False,
        model=None,
    )
    return Settings(**{**base, **over})
