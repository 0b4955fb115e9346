"""The one decision about physical GPUs: run a CUDA check, skip it, or fail it (--require-cuda).

A replica on a fake-GPU node (nvidia.com/gpu is a patched number on kind, a fake device
plugin's on realpods) or one that holds only logical GPUs (no device on this host) cannot run a
CUDA check. That is expected on a laptop or CI runner, so the check skips with the reason; under
--require-cuda it fails instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from gpuconf.kube.nodes import FAKE_GPU_LABEL
from gpuconf.live.observe import ReplicaObservation
from gpuconf.live.verdicts import has_physical_gpu


@dataclass(frozen=True)
class CudaVerdict:
    """`run` the check, or `skip`/`fail` it with the reason."""

    outcome: Literal["run", "skip", "fail"]
    reason: str = ""


def without_cuda(reason: str, require_cuda: bool) -> CudaVerdict:
    """No physical GPU for the reason given: skip, or fail under --require-cuda."""
    return CudaVerdict("fail", f"--require-cuda: {reason}") if require_cuda else CudaVerdict("skip", reason)


def cuda_verdict(
    replicas: Sequence[ReplicaObservation],
    fake_gpu_nodes: Iterable[str],
    host_gpu_names: Sequence[str],
    require_cuda: bool,
) -> CudaVerdict:
    """Whether the GPU replicas can run a CUDA check: all of them see a physical device, none on a fake-GPU node."""
    fake = set(fake_gpu_nodes)
    on_fake = sorted({o.pod.k8s_node for o in replicas if o.pod and o.pod.k8s_node in fake})
    if not on_fake and replicas and all(has_physical_gpu(o.probe) for o in replicas):
        return CudaVerdict("run")
    if on_fake:
        # a status patch (kind) or a fake device plugin (realpods): a count with no CUDA device behind it
        reason = f"fake GPU: no device (nodes {on_fake} are labelled {FAKE_GPU_LABEL}=true)"
    else:
        reason = f"no physical GPU: the replicas hold logical GPUs only (host GPUs: {list(host_gpu_names) or 'none'})"
    return without_cuda(reason, require_cuda)
