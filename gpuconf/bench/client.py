"""HTTP calls to the twins, through Serve's proxy like any client (``entrypoints/ml_entrypoint.py``'s contract)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests


class BenchRequestFailed(RuntimeError):
    """A twin answered with an error (or not at all); the message carries its answer."""


def _check(resp: requests.Response, what: str) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        body = {"text": resp.text[:300]}
    if resp.status_code != 200:
        raise BenchRequestFailed(f"{what}: HTTP {resp.status_code}: {body}")
    return body


class TwinClient:
    """One keep-alive HTTP session to one twin's route prefix."""

    def __init__(self, http_url: str, route: str, timeout_s: float = 60.0) -> None:
        self.base = http_url.rstrip("/") + route.rstrip("/")
        self.timeout_s = timeout_s
        # Keep-alive: each round then measures a request, not a TCP handshake.
        self.session = requests.Session()

    def probe(self) -> dict[str, Any]:
        """The replica's probe (placement and GPU facts), without its kernel check."""
        return _check(
            self.session.get(f"{self.base}/probe", params={"kernel": 0}, timeout=self.timeout_s),
            f"GET {self.base}/probe",
        )

    def bench(
        self, batch: int, iters: int, warmup: int, copies: bool, timeout_s: float, graph: bool = False
    ) -> dict[str, Any]:
        """In-replica latency samples of ``iters`` forwards after ``warmup``: the device's
        (``samples_ms``) and the host's (``host_samples_ms``); ``graph`` asks for CUDA-graph replay."""
        params = {"batch": batch, "iters": iters, "warmup": warmup, "copies": int(copies)}
        if graph:  # only when asked: a replica of an older entrypoints/ never sees the parameter
            params["graph"] = 1
        return _check(
            self.session.get(f"{self.base}/bench", params=params, timeout=timeout_s),
            f"GET {self.base}/bench?{'&'.join(f'{k}={v}' for k, v in params.items())}",
        )

    def infer_call(self, batch: int, timeout_s: float) -> Callable[[], dict[str, Any]]:
        """A zero-argument callable doing one ``POST /infer`` (what pytest-benchmark times)."""
        url, payload, session = f"{self.base}/infer", {"batch": batch}, self.session

        def infer() -> dict[str, Any]:
            body = _check(session.post(url, json=payload, timeout=timeout_s), f"POST {url}")
            if body.get("batch") != batch:
                raise BenchRequestFailed(f"POST {url} answered for batch {body.get('batch')}, asked {batch}")
            return body

        return infer

    def noop_call(self) -> Callable[[], dict[str, Any]]:
        """A zero-argument callable doing one ``GET /noop``."""
        url, session, timeout_s = f"{self.base}/noop", self.session, self.timeout_s

        def noop() -> dict[str, Any]:
            return _check(session.get(url, timeout=timeout_s), f"GET {url}")

        return noop

    def close(self) -> None:
        """Close the keep-alive connections."""
        self.session.close()
