"""Facts about placement and GPU visibility, read from inside the current Ray worker or actor.

``collect_probe()`` gathers them: the Ray node it runs on, the accelerators Ray assigned to it,
what CUDA and the driver show it, and whether a small check on its first visible GPU agrees
with the host. It never raises: each field that cannot be read becomes ``None`` (or an empty
value) plus an entry in ``errors``.

A Serve replica is probed in its own process with Ray's ``ActorHandle.__ray_call__``:
``start_replica_probe`` and ``poll_replica_probe`` are shipped there by value (this module is
registered with cloudpickle by value), so nothing is installed in the user's image and the
user's code is unchanged. The probe runs in a thread of its own, so the replica's event loop is
held only for the two calls. The devices are read through torch when the process already
loaded it, else through the CUDA driver API (libcuda with ctypes), else through nvidia-smi.

This module must not import the ``gpuconf`` package. torch and ray are optional here (probing
must work, and say so, where either is missing).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

# Environment variables that tell where a replica runs and what it may see. Only those that
# are set are reported; CUDA_VISIBLE_DEVICES is reported separately because unset (None) and
# empty ("") mean different things (empty hides every GPU, unset hides none).
PROBE_ENV_VARS = (
    "NVIDIA_VISIBLE_DEVICES",
    "KUBERAY_GEN_RAY_START_CMD",
    "RAY_NODE_TYPE_NAME",
    "RAY_CLOUD_INSTANCE_ID",
    "GPUCONF_POD_NAME",
    "GPUCONF_NODE_NAME",
    "NODE_NAME",
    "POD_NAME",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO",
    "OMP_NUM_THREADS",
)

KERNEL_SIZE = 256
# fp32 with TF32 off: the error of a 256-term dot product of N(0,1) values against a float64
# reference is ~1e-5; 1e-3 leaves a wide margin yet catches a broken device or driver.
KERNEL_TOLERANCE = 1e-3
KERNEL_SEED = 1234


class _Errors:
    """Collects per-field failures so that one broken API never hides the other facts."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, exc: BaseException | str) -> None:
        msg = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self.items.append({"field": field, "error": msg})

    def call(self, field: str, fn: Callable[[], Any], default: Any = None) -> Any:
        try:
            return fn()
        except Exception as exc:
            self.add(field, exc)
            return default


def _jsonable(value: Any) -> Any:
    """Turn Ray/torch return values (ids, tuples, numpy-ish numbers) into plain JSON types."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "hex") and callable(value.hex):
        try:
            return value.hex()
        except Exception:
            pass
    try:
        return float(value)
    except Exception:
        return str(value)


def format_gpu_uuid(raw: Any) -> str | None:
    """Format a CUDA device UUID as nvidia-smi prints it: ``GPU-xxxxxxxx-xxxx-...``.

    Accepts what ``torch.cuda.get_device_properties(i).uuid`` returns (an object whose str()
    is the bare 36-character UUID, or already prefixed), raw 16 bytes, or a string.
    """
    if raw is None:
        return None
    if isinstance(raw, (bytes, bytearray)):
        h = bytes(raw).hex()
        if len(h) != 32:
            return h
        s = f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
    else:
        s = str(raw).strip()
    if s.startswith(("GPU-", "MIG-")):
        return s
    return f"GPU-{s}"


def _props_uuid(props: Any) -> str | None:
    """The UUID torch reports in a device's properties, in nvidia-smi's form."""
    return format_gpu_uuid(props.uuid)


def _ray_facts(errors: _Errors) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ray_version": None,
        "ray_initialized": False,
        "node_id": None,
        "node_ip": None,
        "node_labels": None,
        "node_labels_source": None,
        "accelerator_ids": None,
        "gpu_ids": None,
        "assigned_resources": None,
        "actor_id": None,
        "worker_id": None,
    }
    try:
        import ray
    except Exception as exc:
        errors.add("ray", exc)
        return out
    out["ray_version"] = getattr(ray, "__version__", None)
    if not ray.is_initialized():
        # Outside Ray (unit tests, plain scripts) there is no node or actor to read; calling
        # the APIs would raise or, worse, start a local cluster.
        errors.add("ray", "ray is not initialized in this process")
        return out
    out["ray_initialized"] = True
    ctx = errors.call("runtime_context", ray.get_runtime_context)
    if ctx is None:
        return out
    out["node_id"] = errors.call("node_id", lambda: _jsonable(ctx.get_node_id()))
    out["node_ip"] = errors.call("node_ip", lambda: ray.util.get_node_ip_address())
    out["worker_id"] = errors.call("worker_id", lambda: _jsonable(ctx.get_worker_id()))
    out["actor_id"] = errors.call("actor_id", lambda: _jsonable(ctx.get_actor_id()))

    if hasattr(ctx, "get_node_labels"):
        labels = errors.call("node_labels", lambda: _jsonable(ctx.get_node_labels()))
        if labels is not None:
            out["node_labels"], out["node_labels_source"] = labels, "runtime_context"
    if out["node_labels"] is None:
        # Older Ray has no get_node_labels(); the GCS node table carries the same labels.
        def from_gcs() -> Any:
            for node in ray.nodes():
                if node.get("NodeID") == out["node_id"]:
                    return _jsonable(node.get("Labels", {}))
            raise LookupError(f"node {out['node_id']} not in ray.nodes()")

        labels = errors.call("node_labels_gcs", from_gcs)
        if labels is not None:
            out["node_labels"], out["node_labels_source"] = labels, "ray.nodes"

    out["accelerator_ids"] = errors.call("accelerator_ids", lambda: _jsonable(ctx.get_accelerator_ids()))
    out["gpu_ids"] = errors.call("gpu_ids", lambda: _jsonable(ray.get_gpu_ids()))
    out["assigned_resources"] = errors.call("assigned_resources", lambda: _jsonable(ctx.get_assigned_resources()))
    return out


def _nvml_facts(errors: _Errors) -> dict[str, Any]:
    """Driver version and the GPUs NVML sees. NVML ignores CUDA_VISIBLE_DEVICES: it shows what
    the container could reach, which is how a pod that reserved no GPU but was given
    NVIDIA_VISIBLE_DEVICES=all is caught."""
    out: dict[str, Any] = {
        "driver_version": None,
        "nvml_devices": None,
        "nvml_source": None,
        "nvml_error": None,
    }
    nvml = None
    for mod_name in ("pynvml", "ray._private.thirdparty.pynvml"):
        try:
            nvml = __import__(mod_name, fromlist=["nvmlInit"])
            out["nvml_source"] = mod_name
            break
        except Exception:
            continue
    if nvml is None:
        return out  # not an error: nvidia-ml-py is optional
    try:
        nvml.nvmlInit()
    except Exception as exc:
        # No driver library on a CPU host is normal; record it as a fact, not a failure.
        out["nvml_error"] = f"{type(exc).__name__}: {exc}"
        return out

    def text(v: Any) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    try:
        out["driver_version"] = errors.call("driver_version", lambda: text(nvml.nvmlSystemGetDriverVersion()))
        devices = []
        count = errors.call("nvml_device_count", nvml.nvmlDeviceGetCount, 0)
        for i in range(count):
            h = errors.call(f"nvml_device[{i}]", functools.partial(nvml.nvmlDeviceGetHandleByIndex, i))
            if h is None:
                continue
            devices.append(
                {
                    "index": i,
                    "name": errors.call(
                        f"nvml_device[{i}].name", functools.partial(lambda hd: text(nvml.nvmlDeviceGetName(hd)), h)
                    ),
                    "uuid": errors.call(
                        f"nvml_device[{i}].uuid", functools.partial(lambda hd: text(nvml.nvmlDeviceGetUUID(hd)), h)
                    ),
                }
            )
        out["nvml_devices"] = devices
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return out


def _torch_facts(errors: _Errors) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    info: dict[str, Any] = {
        "version": None,
        "cuda_version": None,
        "cuda_available": False,
        "device_count": 0,
        "num_threads": None,
    }
    try:
        import torch
    except Exception as exc:
        errors.add("torch", exc)
        return info, [], None
    info["version"] = str(torch.__version__)
    info["cuda_version"] = torch.version.cuda
    info["num_threads"] = errors.call("torch.num_threads", torch.get_num_threads)
    info["cuda_available"] = bool(errors.call("torch.cuda_available", torch.cuda.is_available, False))
    info["device_count"] = int(errors.call("torch.device_count", torch.cuda.device_count, 0) or 0)
    devices: list[dict[str, Any]] = []
    if info["cuda_available"]:
        for i in range(info["device_count"]):
            props = errors.call(f"devices[{i}]", functools.partial(torch.cuda.get_device_properties, i))
            if props is None:
                continue
            devices.append(
                {
                    "index": i,
                    "name": getattr(props, "name", None),
                    "uuid": errors.call(f"devices[{i}].uuid", functools.partial(_props_uuid, props)),
                    "capability": f"{props.major}.{props.minor}",
                    "total_memory_bytes": int(props.total_memory),
                    "multi_processor_count": int(props.multi_processor_count),
                }
            )
    return info, devices, torch


def run_kernel_check(torch: Any, device_index: int = 0) -> dict[str, Any]:
    """A deterministic fp32 matmul (TF32 off) on ``cuda:device_index``, checked against a
    float64 CPU reference. Raises on CUDA errors; the caller turns that into a fact."""
    n = KERNEL_SIZE
    gen = torch.Generator(device="cpu")
    gen.manual_seed(KERNEL_SEED)
    a = torch.randn((n, n), generator=gen, dtype=torch.float32)
    b = torch.randn((n, n), generator=gen, dtype=torch.float32)
    expected = a.double() @ b.double()
    dev = torch.device(f"cuda:{device_index}")
    # TF32 would put the error near 1e-2 and make the check depend on a global setting the
    # model may have turned on; turn it off for this check only and restore it after.
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        t0 = time.perf_counter()
        got = (a.to(dev) @ b.to(dev)).to("cpu")  # .to("cpu") synchronises
        elapsed_ms = (time.perf_counter() - t0) * 1e3
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev
    err = float((got.double() - expected).abs().max().item())
    finite = bool(torch.isfinite(got).all().item())
    return {
        "ran": True,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev),
        "op": f"matmul {n}x{n} fp32 (tf32 off) vs float64 CPU reference",
        "max_abs_err": err,
        "tolerance": KERNEL_TOLERANCE,
        "ok": finite and err <= KERNEL_TOLERANCE,
        "elapsed_ms": elapsed_ms,
    }


# CUDA driver API (cuda.h): attribute ids and the success code.
_CU_SUCCESS = 0
_CU_ATTR_CC_MAJOR = 75
_CU_ATTR_CC_MINOR = 76
_ROUND_TRIP_BYTES = 1 << 20


def _cuda_driver_facts(errors: _Errors, run_check: bool) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The devices libcuda lets this process open (it honours CUDA_VISIBLE_DEVICES), without torch.

    Returns (summary, devices, check): the check is a 1 MiB host→device→host round trip on the
    first device, compared byte for byte.
    """
    import ctypes

    summary: dict[str, Any] = {"library": None, "init": None, "device_count": 0}
    check: dict[str, Any] = {"ran": False, "reason": "no CUDA device visible"}
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        summary["init"] = f"libcuda.so.1 not loadable: {exc}"
        return summary, [], {"ran": False, "reason": "no CUDA driver library (libcuda.so.1)"}
    summary["library"] = "libcuda.so.1"
    rc = lib.cuInit(0)
    summary["init"] = int(rc)
    if rc != _CU_SUCCESS:
        return summary, [], {"ran": False, "reason": f"cuInit failed with CUDA error {rc}"}
    count = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(count)) != _CU_SUCCESS:
        errors.add("cuda_driver.count", "cuDeviceGetCount failed")
    summary["device_count"] = count.value
    devices: list[dict[str, Any]] = []
    handles = []
    for i in range(count.value):
        dev = ctypes.c_int(0)
        if lib.cuDeviceGet(ctypes.byref(dev), i) != _CU_SUCCESS:
            errors.add(f"cuda_driver.device[{i}]", "cuDeviceGet failed")
            continue
        handles.append(dev)
        name = ctypes.create_string_buffer(256)
        lib.cuDeviceGetName(name, 256, dev)
        raw = ctypes.create_string_buffer(16)
        uuid = format_gpu_uuid(raw.raw) if lib.cuDeviceGetUuid(raw, dev) == _CU_SUCCESS else None
        major, minor, mem = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_size_t(0)
        lib.cuDeviceGetAttribute(ctypes.byref(major), _CU_ATTR_CC_MAJOR, dev)
        lib.cuDeviceGetAttribute(ctypes.byref(minor), _CU_ATTR_CC_MINOR, dev)
        lib.cuDeviceTotalMem_v2(ctypes.byref(mem), dev)
        devices.append(
            {
                "index": i,
                "name": name.value.decode(errors="replace") or None,
                "uuid": uuid,
                "capability": f"{major.value}.{minor.value}" if major.value else None,
                "total_memory_bytes": int(mem.value),
            }
        )
    if run_check and handles:
        check = errors.call("kernel", lambda: _driver_round_trip(lib, handles[0]), {"ran": False, "ok": False})
    return summary, devices, check


def _driver_round_trip(lib: Any, dev: Any) -> dict[str, Any]:
    """Copy 1 MiB to the device and back through the primary context; the bytes must match."""
    import ctypes

    ctx, ptr = ctypes.c_void_p(), ctypes.c_uint64(0)
    src = (ctypes.c_ubyte * _ROUND_TRIP_BYTES)(*(i % 251 for i in range(_ROUND_TRIP_BYTES)))
    dst = (ctypes.c_ubyte * _ROUND_TRIP_BYTES)()
    t0 = time.perf_counter()
    steps = [("cuDevicePrimaryCtxRetain", lambda: lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev))]
    steps.append(("cuCtxPushCurrent", lambda: lib.cuCtxPushCurrent_v2(ctx)))
    steps.append(("cuMemAlloc", lambda: lib.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(_ROUND_TRIP_BYTES))))
    steps.append(("cuMemcpyHtoD", lambda: lib.cuMemcpyHtoD_v2(ptr, src, ctypes.c_size_t(_ROUND_TRIP_BYTES))))
    steps.append(("cuMemcpyDtoH", lambda: lib.cuMemcpyDtoH_v2(dst, ptr, ctypes.c_size_t(_ROUND_TRIP_BYTES))))
    failed = None
    done = 0
    for name, step in steps:
        rc = step()
        if rc != _CU_SUCCESS:
            failed = f"{name} failed with CUDA error {rc}"
            break
        done += 1
    if done >= 3:
        lib.cuMemFree_v2(ptr)
    if done >= 2:
        lib.cuCtxPopCurrent_v2(ctypes.byref(ctypes.c_void_p()))
    if done >= 1:
        lib.cuDevicePrimaryCtxRelease_v2(dev)
    ok = failed is None and bytes(dst) == bytes(src)
    return {
        "ran": failed is None,
        "device": "cuda driver device 0",
        "op": f"{_ROUND_TRIP_BYTES} B host→device→host copy (CUDA driver API), compared byte for byte",
        "ok": ok,
        "reason": failed,
        "elapsed_ms": (time.perf_counter() - t0) * 1e3,
    }


def _smi_facts(errors: _Errors) -> list[dict[str, Any]]:
    """The GPUs nvidia-smi lists, kept to CUDA_VISIBLE_DEVICES when it is set (nvidia-smi ignores it)."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return []
    query = ["nvidia-smi", "--query-gpu=index,name,uuid,compute_cap", "--format=csv,noheader"]
    out = errors.call("nvidia-smi", lambda: subprocess.run(query, capture_output=True, text=True, timeout=10))
    if out is None or out.returncode != 0:
        return []
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    wanted = None if cvd is None else {v.strip() for v in cvd.split(",") if v.strip()}
    devices: list[dict[str, Any]] = []
    for line in out.stdout.splitlines():
        parts = [x.strip() for x in line.split(",")]
        if len(parts) < 4 or (wanted is not None and parts[0] not in wanted and parts[2] not in wanted):
            continue
        devices.append({"index": len(devices), "name": parts[1], "uuid": parts[2], "capability": parts[3]})
    return devices


def collect_probe(run_kernel: bool = True, torch_policy: str = "import") -> dict[str, Any]:
    """Collect JSON-serialisable placement and GPU facts from inside the current process.

    Keys: pid, hostname, node_id, node_ip, node_labels, accelerator_ids, gpu_ids,
    assigned_resources, actor_id, cuda_visible_devices (None when unset, "" when empty), env,
    torch, cuda (where the devices were read: torch, cuda_driver or nvidia-smi, and how many),
    devices, driver_version, nvml_devices, kernel, errors (and a few more). Never raises.

    ``torch_policy``: "import" reads devices through torch whenever it is installed; "loaded"
    only when the process already imported it (a user's replica is never made to load torch).
    """
    errors = _Errors()
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "pid": os.getpid(),
        "hostname": errors.call("hostname", socket.gethostname),
        # os.environ.get keeps the None-vs-"" distinction on purpose.
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "env": {k: os.environ[k] for k in PROBE_ENV_VARS if k in os.environ},
        # The GPU device nodes this process can open: what the container runtime exposed.
        "device_files": sorted(glob.glob("/dev/nvidia[0-9]*")),
    }
    result.update(_ray_facts(errors))
    use_torch = torch_policy == "import" or "torch" in sys.modules
    if use_torch:
        torch_info, devices, torch = _torch_facts(errors)
    else:
        torch_info, devices, torch = {"version": None, "cuda_available": False, "device_count": 0}, [], None
        torch_info["skipped"] = "torch is not loaded in this process (never imported into a user's replica)"
    result["torch"] = torch_info
    result.update(_nvml_facts(errors))

    kernel: dict[str, Any] = {"ran": False, "reason": "kernel check disabled by caller"}
    if torch is not None:
        cuda: dict[str, Any] = {"source": "torch", "device_count": len(devices)}
        if run_kernel and (not torch_info["cuda_available"] or torch_info["device_count"] < 1):
            kernel = {"ran": False, "reason": "no CUDA device visible"}
        elif run_kernel:
            try:
                kernel = run_kernel_check(torch, 0)
            except Exception as exc:
                errors.add("kernel", exc)
                kernel = {"ran": False, "reason": f"kernel failed: {type(exc).__name__}: {exc}", "ok": False}
    else:
        summary, devices, check = _cuda_driver_facts(errors, run_kernel)
        cuda = {"source": "cuda_driver", "device_count": len(devices), "driver": summary}
        if summary["library"] is None:
            devices = _smi_facts(errors)
            cuda = {"source": "nvidia-smi" if devices else None, "device_count": len(devices), "driver": summary}
            check = {"ran": False, "reason": "neither torch nor the CUDA driver library is loadable here"}
        if run_kernel:
            kernel = check
    result["cuda"] = cuda
    result["devices"] = devices
    result["kernel"] = kernel
    result["probe_ms"] = (time.perf_counter() - t0) * 1e3
    result["errors"] = errors.items
    return result


# --------------------------------------------------------------------------- inside a Serve replica

#: A module of its own in the replica's sys.modules holds the finished probes until they are polled
#: (functions shipped by value get fresh globals on each call, and the user's objects stay untouched).
_RUNS_MODULE = "_gpuconf_probe_runs"


def start_replica_probe(replica: Any, run_kernel: bool = True) -> str:
    """Called in a replica through ``__ray_call__``: start ``collect_probe`` in a thread; return its token.

    ``replica`` is Serve's replica actor (unused: the facts are the process's). The call returns at
    once, so the replica's event loop is held for microseconds, not for the probe.
    """
    import threading
    import types
    import uuid

    runs = sys.modules.get(_RUNS_MODULE)
    if runs is None:
        runs = sys.modules.setdefault(_RUNS_MODULE, types.ModuleType(_RUNS_MODULE))
    results: dict[str, Any] = runs.__dict__.setdefault("results", {})
    token = uuid.uuid4().hex

    def work() -> None:
        try:
            results[token] = collect_probe(run_kernel=run_kernel, torch_policy="loaded")
        except BaseException as exc:  # collect_probe never raises; a thread must not die unheard
            results[token] = {"errors": [{"field": "probe", "error": f"{type(exc).__name__}: {exc}"}]}

    threading.Thread(target=work, name="gpuconf-replica-probe", daemon=True).start()
    return token


def poll_replica_probe(replica: Any, token: str) -> dict[str, Any] | None:
    """Called in a replica through ``__ray_call__``: the finished probe of ``token``, or None while it runs."""
    runs = sys.modules.get(_RUNS_MODULE)
    results: dict[str, Any] = getattr(runs, "results", {}) if runs is not None else {}
    return results.pop(token, None)
