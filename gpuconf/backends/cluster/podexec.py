"""A short command run in a pod (the API server's exec, no kubectl), and the GPU-device check run that way.

The check itself and the parsing of its output are in :mod:`gpuconf.live.devices`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuconf.kube.client import KubeClient
from gpuconf.live.devices import DEVICE_CHECK, DeviceCheck, parse_device_check
from gpuconf.waits import timeout


@dataclass
class ExecResult:
    """What a command printed, and its exit code (None when the stream gave none)."""

    stdout: str
    stderr: str
    exit_code: int | None


def exec_in_pod(
    kube: KubeClient,
    namespace: str,
    pod: str,
    argv: list[str],
    container: str | None = None,
    timeout_s: float | None = None,
) -> ExecResult:
    """Run `argv` in the pod's container (the first one by default) and wait for it to end."""
    from kubernetes.stream import stream

    resp = stream(
        kube.core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        command=argv,
        container=container,
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    try:
        resp.run_forever(timeout=timeout_s or timeout("probe"))
        out, err = resp.read_stdout() or "", resp.read_stderr() or ""
        try:
            code = resp.returncode
        except Exception:  # no status frame: the command was cut off
            code = None
        return ExecResult(out, err, code)
    finally:
        resp.close()


def check_devices(kube: KubeClient, namespace: str, pod: str) -> DeviceCheck:
    """Run the device check in a pod's Ray container."""
    result = exec_in_pod(kube, namespace, pod, ["sh", "-c", DEVICE_CHECK])
    if result.exit_code not in (0, None):
        raise RuntimeError(f"the device check in {namespace}/{pod} exited {result.exit_code}: {result.stderr[-500:]}")
    return parse_device_check(result.stdout)
