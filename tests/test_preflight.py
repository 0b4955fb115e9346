"""Preflight against a cluster that is not there: a fast, clear environment failure."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from gpuconf.check import run_check
from gpuconf.kube.preflight import EXIT_UNREACHABLE, exit_code, run_preflight
from gpuconf.live.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_unreachable_cluster_fails_fast(tmp_path: Path) -> None:
    """A kubeconfig whose server refuses connections: exit 10 in well under 10 s, nothing else asked."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "x"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    expectations = run_check([ROOT / "manifests"]).plans[0].expectations
    start = time.monotonic()
    results = run_preflight(str(kubeconfig), expectations, timeout_s=5.0)
    elapsed = time.monotonic() - start
    assert elapsed < 10, elapsed
    assert [r.check for r in results] == ["reachable"]
    assert exit_code(results) == EXIT_UNREACHABLE
    assert "no API server answers" in results[0].message
