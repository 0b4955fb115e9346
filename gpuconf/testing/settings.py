"""The command-line options of a run, resolved into :class:`gpuconf.live.settings.Settings`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpuconf.backends import registry
from gpuconf.live.settings import Settings, is_reference_manifests


def add_options(parser: pytest.Parser) -> None:
    """Register the suite's command-line options."""
    g = parser.getgroup("gpuconf")
    g.addoption(
        "--backend",
        choices=("auto", *registry.names()),
        default="auto",
        help="where to run: static (no Ray), embedded (local Ray), kwok, cluster; auto: cluster when a "
        "kubeconfig is configured (unreachable: exit 10), embedded only when none is",
    )
    g.addoption(
        "--manifests", default="manifests", help="folder or file with the RayCluster/Serve config (default: manifests)"
    )
    g.addoption("--nodes", default=None, help="node pool file or folder (default: <manifests>/nodes)")
    g.addoption("--expect", default=None, help="expectations file (default: <manifests>/expectations.yaml)")
    g.addoption("--kubeconfig", default=None, help="kubeconfig of the cluster backend (default: $KUBECONFIG)")
    g.addoption("--report-dir", default="reports", help="where junit.xml, conformance.json and summary.md go")
    g.addoption("--timeout-scale", type=float, default=1.0, help="multiply every timeout (slow runners: 2 or 3)")
    # --strict is pytest's own strict mode; gpuconf extends it: a skipped conformance check fails.
    g.addoption(
        "--require-cuda", action="store_true", help="a replica without a physical GPU fails instead of skipping"
    )
    g.addoption(
        "--label-gpu-nodes",
        action="store_true",
        help="cluster backend: label nodes with allocatable GPUs with the GPU node selector, revert at the end",
    )
    g.addoption(
        "--keep-on-failure",
        action="store_true",
        help="kwok/cluster backends: keep the run's namespace when a check failed (diagnostics are written anyway)",
    )
    g.addoption(
        "--allow-scaling",
        action="store_true",
        help="cluster backend: run the scaling checks, which change the cluster's size (without it they skip)",
    )
    g.addoption(
        "--scaling-budget",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="cluster backend with --allow-scaling: the scaling checks together stop and fail after this long "
        "(default 600)",
    )
    g.addoption(
        "--ship-entrypoints",
        choices=("auto", "yes", "no"),
        default="auto",
        help="cluster backend: upload gpuconf's entrypoints/ as the working_dir of apps importing `entrypoints.*` "
        "(auto: only for gpuconf's own manifests/ and overlays/; never over your image's code otherwise)",
    )
    g.addoption(
        "--bench-route",
        default=None,
        metavar="ROUTE",
        help="benchmarks: also measure your own endpoint on the running app (e.g. /summarize): p50, p95, p99",
    )
    g.addoption(
        "--bench-body",
        default=None,
        metavar="FILE",
        help="with --bench-route: the request body (JSON) to POST; without it the route is read with GET",
    )
    g.addoption(
        "--model", default=None, help="override the Serve app's `model` arg (mlp-smoke, mlp, bert-smoke, bert-base)"
    )


def resolve(config: pytest.Config) -> Settings:
    """Settings from the options; `auto` resolved here, once."""
    opt = config.getoption
    kubeconfig, source = opt("--kubeconfig"), "--kubeconfig"
    if not kubeconfig and os.environ.get("KUBECONFIG"):
        kubeconfig, source = os.environ["KUBECONFIG"], "KUBECONFIG"
    default = Path.home() / ".kube" / "config"
    if not kubeconfig and opt("--backend") == "auto" and default.is_file():
        kubeconfig, source = str(default), "~/.kube/config"
    # No reachability probe here: a configured cluster that does not answer is exit 10, not embedded.
    backend, reason = registry.choose_backend(opt("--backend"), kubeconfig, source)
    if opt("--scaling-budget") <= 0:
        raise pytest.UsageError(f"--scaling-budget must be a positive number of seconds, not {opt('--scaling-budget')}")
    return Settings(
        backend=backend,
        backend_reason=reason,
        manifests=Path(opt("--manifests")),
        nodes=Path(opt("--nodes")) if opt("--nodes") else None,
        expect=Path(opt("--expect")) if opt("--expect") else None,
        kubeconfig=kubeconfig,
        report_dir=Path(opt("--report-dir")),
        timeout_scale=opt("--timeout-scale"),
        strict=opt("--strict"),
        require_cuda=opt("--require-cuda"),
        model=opt("--model"),
        label_gpu_nodes=opt("--label-gpu-nodes"),
        keep_on_failure=opt("--keep-on-failure"),
        allow_scaling=opt("--allow-scaling"),
        scaling_budget_s=opt("--scaling-budget"),
        ship_entrypoints=_ship_entrypoints(opt("--ship-entrypoints"), Path(opt("--manifests"))),
    )


def _ship_entrypoints(choice: str, manifests: Path) -> bool:
    """yes/no as given; auto: only for the reference manifests shipped with gpuconf."""
    return choice == "yes" or (choice == "auto" and is_reference_manifests(manifests))
