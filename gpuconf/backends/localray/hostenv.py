"""Which of a pod's environment variables a local Ray node on this host may take.

A pod's `env` is written for its container: a path in `LD_PRELOAD`, `PYTHONPATH` or `PATH` names a
file of the container's image, not of this host, and applied to a local Ray process it would run
the host's file instead, as root. So only the variables that mean the same on the host reach the
local nodes: Ray's, CUDA's and NVIDIA's, KubeRay's, gpuconf's own, and what the probes read. The
rest is left out, each with the reason, and the run's evidence lists them.
"""

from __future__ import annotations

#: Prefixes of the variables that mean the same in a pod and on this host.
KEPT_PREFIXES = ("RAY_", "CUDA_", "NVIDIA_", "KUBERAY_", "GPUCONF_")
#: Single variables the probes and the reference service read.
KEPT_NAMES = frozenset({"OMP_NUM_THREADS", "POD_NAME", "NODE_NAME"})
#: The loader's and interpreters' variables: they name files inside the container.
LOADER_PREFIXES = ("LD_", "PYTHON", "PATH", "DYLD_", "PERL5", "NODE_OPTIONS", "JAVA_TOOL_OPTIONS", "BASH_ENV", "ENV")


def split_env(pod_env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the variables a local node takes, {name: why it was left out}) of a pod's env."""
    kept, left_out = {}, {}
    for name, value in pod_env.items():
        if name.startswith(KEPT_PREFIXES) or name in KEPT_NAMES:
            kept[name] = value
        elif name == "ENV" or name.startswith(LOADER_PREFIXES):
            left_out[name] = (
                "a loader or interpreter variable: it names files in the container's image, not this host's"
            )
        else:
            left_out[name] = (
                "a container setting, not Ray's, CUDA's or the probes': it may mean something else on this host"
            )
    return kept, left_out
