"""Fixtures of the realpods tests: they run inside the tier's namespace (``make test-realpods``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gpuconf.provision.realpods import cluster
from gpuconf.provision.realpods.layout import NETNS_PATH


def _inside_namespace() -> bool:
    try:
        return os.stat("/proc/self/ns/net").st_ino == os.stat(NETNS_PATH).st_ino
    except OSError:
        return False


@pytest.fixture(scope="session")
def core() -> Any:
    """A CoreV1Api of the realpods cluster; skips when the tier is not up here."""
    if not _inside_namespace():
        pytest.skip("realpods: not up, or not run inside its namespace (make test-realpods)")
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig_path())))


def wait_for(check: Any, what: str, timeout: float = 120.0) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as err:  # not there yet
            last = err
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what} (last: {last})")


GPU_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "fakegpu-probe"},
    "spec": {
        "nodeSelector": {"gpu-node": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "terminationGracePeriodSeconds": 1,
        "containers": [
            {
                "name": "probe",
                "image": "rayproject/ray:2.60.0-py311-gpu",
                "command": [
                    "bash",
                    "-c",
                    "echo env=$NVIDIA_VISIBLE_DEVICES; echo dev=$(ls /dev | grep nvidia); exec sleep 3600",
                ],
                "resources": {"limits": {"nvidia.com/gpu": "1", "cpu": "100m", "memory": "64Mi"}},
            }
        ],
    },
}


@pytest.fixture(scope="module")
def gpu_pod(core: Any) -> Iterator[Any]:
    """A running pod holding one fake GPU; deleted afterwards."""
    ns = "default"
    core.create_namespaced_pod(ns, GPU_POD)
    try:
        pod = wait_for(
            lambda: (p := core.read_namespaced_pod("fakegpu-probe", ns)).status.phase == "Running" and p,
            "the fake GPU probe pod to run",
        )
        yield pod
    finally:
        core.delete_namespaced_pod("fakegpu-probe", ns, grace_period_seconds=0)
