"""Which Kubernetes resource names are GPUs: KubeRay's own predicate, shared by the inputs and the model."""

from __future__ import annotations

import re

# KubeRay (ray-operator common/pod.go) counts a limit as GPUs when its name ends in "gpu" or it is
# an NVIDIA MIG slice such as nvidia.com/mig-1g.10gb.
_MIG = re.compile(r"nvidia\.com/mig-\d+g\.\d+gb$")


def is_gpu_resource(name: str) -> bool:
    """KubeRay's test for a GPU limit name."""
    return name.endswith("gpu") or bool(_MIG.match(name))
