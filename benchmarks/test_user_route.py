"""Your own endpoint's latency on the running app (``--bench-route``, optional).

The same statistics and report as the twins' (pytest-benchmark rounds; p50, p95, p99). The
GPU-vs-CPU speedup gate stays on the reference model: a user's app need not run on a CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from gpuconf.bench.stats import percentile, summarize
from gpuconf.live.serve import DeployedServe
from gpuconf.testing.evidence import Evidence

pytestmark = pytest.mark.ray

ROUNDS, WARMUP = 50, 3
TIMEOUT_S = 60.0


# Skipped before any fixture is set up: the user's apps are not deployed again only to skip.
@pytest.mark.skipif(
    "not config.getoption('--bench-route')",
    reason="no --bench-route: your own endpoint is measured only when asked (--bench-route ROUTE)",
)
def test_user_route_latency(
    deployed: DeployedServe, pytestconfig: pytest.Config, benchmark: Any, evidence: Evidence
) -> None:
    """POST the given body (GET without one) to the user's route; every answer must be 2xx."""
    route = pytestconfig.getoption("--bench-route")
    body_file = pytestconfig.getoption("--bench-body")
    body = Path(body_file).read_bytes() if body_file else None
    url = deployed.http_url.rstrip("/") + "/" + str(route).lstrip("/")
    session = requests.Session()

    def call() -> int:
        if body is None:
            resp = session.get(url, timeout=TIMEOUT_S)
        else:
            resp = session.post(url, data=body, headers={"content-type": "application/json"}, timeout=TIMEOUT_S)
        if resp.status_code >= 300:
            pytest.fail(f"{url} answered {resp.status_code}: {resp.text[:300]}", pytrace=False)
        return resp.status_code

    call()  # the first request through a route pays for the proxy's route lookup
    benchmark.group = "your endpoint"
    benchmark.pedantic(call, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP)
    session.close()
    samples = [d * 1e3 for d in benchmark.stats.stats.data] if benchmark.stats else []
    if not samples:
        pytest.skip("--benchmark-disable: the route ran once, untimed")
    s = summarize(samples)
    p95 = percentile(samples, 95)
    benchmark.extra_info.update({"route": route, "p50_ms": s.p50_ms, "p95_ms": p95, "p99_ms": s.p99_ms, "n": s.n})
    evidence.add(
        "summary",
        f"{route}: p50 {s.p50_ms:.2f} ms, p95 {p95:.2f} ms, p99 {s.p99_ms:.2f} ms, n={s.n} "
        "(the GPU-vs-CPU gate is on the reference model: your app need not run on a CPU)",
    )
    evidence.add("latency_ms", {"p50": s.p50_ms, "p95": p95, "p99": s.p99_ms})
