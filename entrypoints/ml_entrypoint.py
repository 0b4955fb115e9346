"""The Serve application under test: ``MLService`` and its probe, inference and bench routes.

Serve config (import path ``entrypoints.ml_entrypoint:build_ml_service``, route ``/ml``)::

    applications:
      - name: ml_service
        route_prefix: /ml
        import_path: entrypoints.ml_entrypoint:build_ml_service
        args: {model: mlp-smoke, seed: 0, device: auto}

HTTP contract (paths relative to the route prefix; every answer is JSON):

- ``GET  /probe[?kernel=0]``  placement and GPU facts from inside the replica
- ``POST /infer`` body ``{"batch": B}``  one forward on the deterministic batch
- ``GET  /bench?batch=B&iters=N&warmup=W[&copies=0][&graph=1]``  in-replica forward latency: the
  device's time per forward (CUDA events), the host's (launch + synchronize) and the overhead
  between them; ``graph=1`` replays the forward as a CUDA graph (the answer says when it could not)
- ``GET  /noop``  does nothing (Serve/HTTP overhead)
- ``GET  /healthz``

``build_noop_service`` builds the model-less twin ``NoopService`` (``/noop``, ``/probe``,
``/healthz``) used to measure Serve overhead apart from the model.

This folder is shipped alone as a Ray working_dir: nothing here imports ``gpuconf``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import torch
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

try:
    from .models import (
        MODEL_NAMES,
        ReferenceModel,
        build_model,
        device_name,
        enable_tf32,
        resolve_device,
        run_inference,
        summarize,
        tf32_flags,
        time_forward,
    )
    from .probe import collect_probe
except ImportError:  # loaded as a top-level module (working_dir is entrypoints/ itself)
    from models import (  # type: ignore[no-redef]
        MODEL_NAMES,
        ReferenceModel,
        build_model,
        device_name,
        enable_tf32,
        resolve_device,
        run_inference,
        summarize,
        tf32_flags,
        time_forward,
    )
    from probe import collect_probe  # type: ignore[no-redef]

DEFAULT_MODEL = "mlp-smoke"
ALLOWED_ARGS = ("model", "seed", "device", "torch_threads")
ALLOWED_DEVICES = ("auto", "cpu", "cuda")

# Bounds for /bench so that one request cannot hold a replica for minutes.
MAX_ITERS = 10_000
MAX_WARMUP = 1_000
DEFAULT_BENCH = {"batch": 1, "iters": 20, "warmup": 5}

ML_PATHS = {
    "/probe": "GET",
    "/infer": "POST",
    "/bench": "GET",
    "/noop": "GET",
    "/healthz": "GET",
}
NOOP_PATHS = {"/probe": "GET", "/noop": "GET", "/healthz": "GET"}


class BadRequest(ValueError):
    """A request parameter is missing or out of range (answered with HTTP 400)."""


# ---------------------------------------------------------------------------------------------
# Argument handling (build time: a bad Serve config fails the deploy with a clear message)


def _as_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """Parse an int argument that may arrive as a string (CLI ``key=value`` args, query strings)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            n = int(value)
        else:
            n = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if n < minimum or (maximum is not None and n > maximum):
        upper = "" if maximum is None else f", <= {maximum}"
        raise ValueError(f"{name} must be >= {minimum}{upper}, got {n}")
    return n


def parse_ml_args(args: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate and normalise ``build_ml_service`` args; raises ValueError naming allowed values.

    Returns ``{"model": str, "seed": int, "device": str, "torch_threads": int | None}``.
    """
    raw = dict(args or {})
    unknown = sorted(set(raw) - set(ALLOWED_ARGS))
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown} for build_ml_service; allowed: {', '.join(ALLOWED_ARGS)}")
    model = str(raw.get("model") or DEFAULT_MODEL)
    if model not in MODEL_NAMES:
        raise ValueError(f"unknown model {model!r}; allowed values: {', '.join(MODEL_NAMES)}")
    seed = _as_int("seed", raw.get("seed", 0), 0)
    device = str(raw.get("device") or "auto").strip().lower()
    if device not in ALLOWED_DEVICES and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise ValueError(f"unknown device {raw.get('device')!r}; allowed values: {', '.join(ALLOWED_DEVICES)}, cuda:N")
    threads = raw.get("torch_threads")
    torch_threads = None if threads in (None, "", "none", "None") else _as_int("torch_threads", threads, 1)
    return {"model": model, "seed": seed, "device": device, "torch_threads": torch_threads}


# ---------------------------------------------------------------------------------------------
# Shared request plumbing


def route_of(request: Request) -> str:
    """The request path relative to the app's route prefix.

    Serve 2.60's proxy leaves the full path in ``scope["path"]`` (so ``request.url.path`` is
    ``/ml/probe``) and puts the prefix in ``scope["root_path"]`` (``/ml``); a direct call or
    another ASGI server may give the bare ``/probe``. Both are handled.
    """
    path = request.scope.get("path") or "/"
    root = (request.scope.get("root_path") or "").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :] or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    return path


def replica_identity() -> dict[str, str | None]:
    """``{replica_id, deployment, app}`` from Serve's replica context (all None outside Serve)."""
    try:
        ctx = serve.get_replica_context()
        return {
            "replica_id": str(ctx.replica_id.unique_id),
            "deployment": ctx.deployment,
            "app": ctx.app_name,
        }
    except Exception:
        return {"replica_id": None, "deployment": None, "app": None}


def _json(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _kernel_flag(request: Request) -> bool:
    v = request.query_params.get("kernel", "1").strip().lower()
    return v not in ("0", "false", "no", "off")


class _RoutedService:
    """Dispatch on the request path; subclasses define ``PATHS`` and ``_handle_<name>``."""

    PATHS: ClassVar[dict[str, str]] = {}
    SERVICE = ""

    def __init__(self) -> None:
        # One worker thread for every model / CUDA call: it serialises benches, inference and
        # the probe kernel (which flips the global TF32 flag for its check), and keeps the
        # replica's event loop free for /noop and health checks while a bench runs.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpuconf-model")
        self._identity: dict[str, str | None] | None = None

    def _ident(self) -> dict[str, str | None]:
        if self._identity is None or self._identity["replica_id"] is None:
            self._identity = replica_identity()
        return self._identity

    async def _in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def __call__(self, request: Request) -> JSONResponse:
        """Route one HTTP request; every answer, errors included, is JSON."""
        path = route_of(request)
        method = self.PATHS.get(path)
        if method is None:
            return _json(
                404,
                {
                    "error": f"unknown path {path!r}",
                    "service": self.SERVICE,
                    # what the server handed us, to debug prefix handling behind other proxies
                    "raw_path": request.scope.get("path"),
                    "root_path": request.scope.get("root_path"),
                    "paths": {p: m for p, m in self.PATHS.items()},
                },
            )
        if request.method.upper() != method and not (method == "GET" and request.method.upper() == "HEAD"):
            return _json(405, {"error": f"{path} takes {method}, got {request.method}", "path": path})
        handler: Callable[[Request], Awaitable[dict[str, Any]]] = getattr(self, "_handle_" + path[1:])
        try:
            return _json(200, await handler(request))
        except BadRequest as exc:
            return _json(400, {"error": str(exc), "path": path})
        except Exception as exc:
            return _json(500, {"error": f"{type(exc).__name__}: {exc}", "path": path})

    async def _handle_noop(self, request: Request) -> dict[str, Any]:
        return {"ok": True}

    async def _handle_healthz(self, request: Request) -> dict[str, Any]:
        return {"ok": True, "service": self.SERVICE, **self._ident()}

    def _model_info(self) -> dict[str, Any] | None:
        return None

    async def _handle_probe(self, request: Request) -> dict[str, Any]:
        facts = await self._in_worker(collect_probe, _kernel_flag(request))
        return {**self._ident(), "service": self.SERVICE, "model": self._model_info(), **facts}


# ---------------------------------------------------------------------------------------------
# MLService


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _query_flag(request: Request, name: str, default: bool) -> bool:
    """A yes/no query parameter; anything else is a 400 (a typo must not silently mean "no")."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    v = raw.strip().lower()
    if v in _TRUE or v in _FALSE:
        return v in _TRUE
    raise BadRequest(f"{name} must be one of {', '.join(_TRUE + _FALSE)}, got {raw!r}")


def _query_int(request: Request, name: str, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return DEFAULT_BENCH[name]
    try:
        return _as_int(name, raw, minimum, maximum)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


@serve.deployment(name="MLService")
class MLService(_RoutedService):
    """A reference model served over HTTP, with the in-replica probe and latency bench."""

    PATHS = ML_PATHS
    SERVICE = "MLService"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
        device: str = "auto",
        torch_threads: int | None = None,
    ) -> None:
        super().__init__()
        t0 = time.perf_counter()
        cfg = parse_ml_args({"model": model, "seed": seed, "device": device, "torch_threads": torch_threads})
        if cfg["torch_threads"] is not None:
            torch.set_num_threads(cfg["torch_threads"])
        self._device_requested = cfg["device"]
        # An explicit "cuda" on a replica without a visible GPU raises here, so the deploy fails
        # with the reason instead of silently measuring the CPU.
        self._device = resolve_device(cfg["device"])
        # TF32 only exists on CUDA; on CPU the answers say None rather than echo unused flags.
        self._tf32 = enable_tf32() if self._device.type == "cuda" else None
        self._model: ReferenceModel = build_model(cfg["model"], cfg["seed"])
        self._model.module.to(self._device)
        self._device_name = device_name(self._device)
        self._init_ms = (time.perf_counter() - t0) * 1e3

    def _model_info(self) -> dict[str, Any]:
        # Called in the model worker thread: torch_threads is then the pool the forwards use.
        return {
            **self._model.info(),
            "device": str(self._device),
            "device_requested": self._device_requested,
            "device_name": self._device_name,
            "torch_threads": torch.get_num_threads(),
            "tf32": self._tf32,
            "init_ms": self._init_ms,
        }

    async def _handle_healthz(self, request: Request) -> dict[str, Any]:
        return {
            "ok": True,
            "service": self.SERVICE,
            "model": self._model.name,
            "device": str(self._device),
            **self._ident(),
        }

    async def _handle_probe(self, request: Request) -> dict[str, Any]:
        facts = await self._in_worker(collect_probe, _kernel_flag(request))
        info = await self._in_worker(self._model_info)
        return {**self._ident(), "service": self.SERVICE, "model": info, **facts}

    async def _handle_infer(self, request: Request) -> dict[str, Any]:
        body = await request.body()
        try:
            payload = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise BadRequest('body must be a JSON object like {"batch": 8}')
        try:
            batch = _as_int("batch", payload.get("batch", 1), 1, 4096)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        out = await self._in_worker(run_inference, self._model, self._device, batch)
        return {**out, "model": self._model.name, "replica_id": self._ident()["replica_id"]}

    def _bench(self, batch: int, iters: int, warmup: int, copies: bool, graph: bool = False) -> dict[str, Any]:
        run = time_forward(self._model, self._device, batch, iters, warmup, graph=graph)
        out: dict[str, Any] = {
            "device": str(self._device),
            "device_name": self._device_name,
            "model": self._model.name,
            "batch": batch,
            "iters": iters,
            "warmup": warmup,
            # samples_ms is the device's clock (what it always was); the host's and the overhead
            # between the two come beside it, sample by sample.
            "samples_ms": run["samples_ms"],
            "summary_ms": summarize(run["samples_ms"]),
            "timer": run["timer"],
            "host_samples_ms": run["host_samples_ms"],
            "host_summary_ms": summarize(run["host_samples_ms"]),
            "overhead_samples_ms": run["overhead_samples_ms"],
            "timing": run["timing"],
            "graph_requested": graph,
            "graph": run["graph"],
            "graph_note": run["graph_note"],
            "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "flops_per_sample": self._model.flops_per_sample,
            "tf32": tf32_flags() if self._device.type == "cuda" else None,
            "copy_samples_ms": None,
            "copy_summary_ms": None,
            "copy_timer": None,
        }
        if copies and self._device.type == "cuda":
            cp = time_forward(self._model, self._device, batch, iters, warmup, include_copies=True)
            out["copy_samples_ms"] = cp["samples_ms"]
            out["copy_summary_ms"] = summarize(cp["samples_ms"])
            out["copy_timer"] = cp["timer"]
        return out

    async def _handle_bench(self, request: Request) -> dict[str, Any]:
        batch = _query_int(request, "batch", 1, 4096)
        iters = _query_int(request, "iters", 1, MAX_ITERS)
        warmup = _query_int(request, "warmup", 0, MAX_WARMUP)
        copies = request.query_params.get("copies", "1").strip().lower() not in ("0", "false", "no")
        graph = _query_flag(request, "graph", False)
        out = await self._in_worker(self._bench, batch, iters, warmup, copies, graph)
        return {**out, "replica_id": self._ident()["replica_id"]}


@serve.deployment(name="NoopService")
class NoopService(_RoutedService):
    """No model: the same Serve/HTTP path as MLService, for measuring overhead alone."""

    PATHS = NOOP_PATHS
    SERVICE = "NoopService"


def build_ml_service(args: dict[str, Any] | None = None) -> serve.Application:
    """Serve app builder for ``entrypoints.ml_entrypoint:build_ml_service``.

    ``args`` (all optional): ``model`` (one of MODEL_NAMES, default "mlp-smoke"), ``seed``
    (default 0), ``device`` ("auto" | "cpu" | "cuda" | "cuda:N", default "auto"),
    ``torch_threads`` (int; default: torch's own, recorded in the answers). Raises ValueError
    naming the allowed values for an unknown key, model or device.
    """
    return MLService.bind(**parse_ml_args(args))


def build_noop_service(args: dict[str, Any] | None = None) -> serve.Application:
    """Serve app builder for the model-less ``NoopService``; it takes no args."""
    if args:
        raise ValueError(f"build_noop_service takes no arguments, got {sorted(args)}")
    return NoopService.bind()
