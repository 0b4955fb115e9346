"""Probe Serve replicas from inside their own processes, whatever their code: the driver's side.

Every Serve replica is a named actor ``SERVE_REPLICA::<app>#<deployment>#<id>`` in namespace
``serve``. For each target (taken from Serve's own details of the running apps),
``probe_replicas`` calls ``__ray_call__(start_replica_probe)`` on the replica's handle, then
polls ``__ray_call__(poll_replica_probe, token)`` until the probe is done; the functions travel
by value (cloudpickle), so nothing is installed in the user's image.

It runs in any Ray driver: the test process on the local backends, or a Ray job on a real
cluster (``main()``: the targets come base64-encoded in ``GPUCONF_REPLICA_TARGETS`` and the result
is printed as one ``GPUCONF_REPLICA_PROBES=<json>`` line). Must not import the ``gpuconf`` package.
"""

from __future__ import annotations

import base64
import json
import os
import time
from types import ModuleType
from typing import Any

MARK = "GPUCONF_REPLICA_PROBES="
TARGETS_ENV = "GPUCONF_REPLICA_TARGETS"
SERVE_NAMESPACE = "serve"
POLL_S = 0.01


def _probe_module() -> ModuleType:
    import importlib

    for name in ("entrypoints.probe", "gpuconf_probe"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("neither entrypoints.probe nor gpuconf_probe is importable")


def probe_replicas(
    targets: list[dict[str, Any]],
    timeout_s: float = 60.0,
    run_kernel: bool = True,
    probe: ModuleType | None = None,
) -> list[dict[str, Any]]:
    """Probe each target (``actor_name`` and any fields to carry); each row gets ``probe`` or ``error``.

    All replicas are probed at once; ``round_trip_ms`` is the time from the first call to the result.
    """
    import ray
    from ray import cloudpickle

    probe = probe or _probe_module()
    rows = [dict(t) for t in targets]
    cloudpickle.register_pickle_by_value(probe)
    try:
        outstanding: dict[Any, int] = {}
        token: dict[int, str] = {}
        handles: dict[int, Any] = {}
        started: dict[int, float] = {}
        for i, row in enumerate(rows):
            try:
                handles[i] = ray.get_actor(str(row["actor_name"]), namespace=SERVE_NAMESPACE)
            except Exception as exc:  # the replica stopped since Serve listed it, or never had a name
                row["error"] = f"no actor {row.get('actor_name')!r} in namespace {SERVE_NAMESPACE}: {exc}"
                continue
            started[i] = time.perf_counter()
            outstanding[handles[i].__ray_call__.remote(probe.start_replica_probe, run_kernel)] = i
        deadline = time.monotonic() + timeout_s
        while outstanding and time.monotonic() < deadline:
            ready, _ = ray.wait(list(outstanding), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            again = []
            for ref in ready:
                i = outstanding.pop(ref)
                try:
                    value = ray.get(ref)
                except Exception as exc:
                    rows[i]["error"] = (
                        f"__ray_call__ in {rows[i].get('actor_name')} failed: {type(exc).__name__}: {exc}"
                    )
                    continue
                if i not in token:
                    token[i] = str(value)
                    again.append(i)
                elif value is None:
                    again.append(i)
                else:
                    rows[i]["probe"] = value
                    rows[i]["round_trip_ms"] = round((time.perf_counter() - started[i]) * 1e3, 2)
            if again:
                time.sleep(POLL_S)  # the probe runs in the replica's own thread meanwhile
            for i in again:
                outstanding[handles[i].__ray_call__.remote(probe.poll_replica_probe, token[i])] = i
        for i in outstanding.values():
            rows[i]["error"] = f"the replica's probe gave no answer within {timeout_s:g} s"
    finally:
        cloudpickle.unregister_pickle_by_value(probe)
    return rows


def encode_targets(targets: list[dict[str, Any]]) -> str:
    """The targets as the job reads them from ``GPUCONF_REPLICA_TARGETS``."""
    return base64.b64encode(json.dumps(targets).encode()).decode()


def main(probe: ModuleType | None = None) -> None:
    """The Ray job's driver: connect, probe the targets of ``GPUCONF_REPLICA_TARGETS``, print the marked line."""
    import ray

    targets = json.loads(base64.b64decode(os.environ[TARGETS_ENV]))
    timeout_s = float(os.environ.get("GPUCONF_REPLICA_TIMEOUT_S", "60"))
    ray.init(log_to_driver=False)
    print(MARK + json.dumps(probe_replicas(targets, timeout_s, probe=probe)), flush=True)


if __name__ == "__main__":
    main()
