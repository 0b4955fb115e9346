"""What a run is pointed at: the settings every backend starts from (no pytest here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("auto", "static", "embedded", "kwok", "cluster")


@dataclass(frozen=True)
class Settings:
    """What this run is pointed at."""

    backend: str
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
    backend_reason: str = ""  # why this backend runs (shown in the header and the summary)


def choose_backend(requested: str, kubeconfig: str | None, kubeconfig_source: str) -> tuple[str, str]:
    """The backend a run uses and why; never silent, never a fallback from a configured cluster.

    `auto` means the cluster backend whenever a kubeconfig is configured (an unreachable one is
    then an environment failure, exit 10), and the embedded backend only when none is.
    """
    if requested == "cluster":
        return requested, f"--backend cluster, kubeconfig {kubeconfig} (from {kubeconfig_source})" if kubeconfig \
            else "--backend cluster and no kubeconfig: the in-cluster service account"
    if requested != "auto":
        return requested, f"--backend {requested}"
    if kubeconfig:
        return "cluster", f"--backend auto and a kubeconfig ({kubeconfig}, from {kubeconfig_source})"
    return "embedded", "--backend auto and no kubeconfig configured (no --kubeconfig, no KUBECONFIG, no ~/.kube/config)"
