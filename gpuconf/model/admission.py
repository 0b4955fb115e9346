"""A model of the Kubernetes ExtendedResourceToleration admission plugin (off unless enabled).

Upstream (plugin/pkg/admission/extendedresourcetoleration): for every extended resource a
container or init container requests, the plugin adds the toleration
`{key: <resource>, operator: Exists, effect: NoSchedule}` to the pod. Requests default to
limits before admission, so a `nvidia.com/gpu` limit is enough. GKE enables it and taints GPU
nodes `nvidia.com/gpu=present:NoSchedule`, which is why GKE samples carry no toleration.
Enable it with `admission: {extendedResourceToleration: true}` in the expectations or
`gpuconf check --extended-resource-toleration`.
"""

from __future__ import annotations

from typing import Any

from gpuconf.inputs.loader import LDict, get

# Resource names of Kubernetes itself: no domain, or a kubernetes.io domain.
_NATIVE_SUFFIX = "kubernetes.io"


def is_extended_resource(name: str) -> bool:
    """Kubernetes' IsExtendedResourceName: a domain-qualified name outside kubernetes.io, not `requests.*`."""
    if "/" not in name or name.startswith("requests."):
        return False
    domain = name.split("/", 1)[0]
    return not (domain == _NATIVE_SUFFIX or domain.endswith("." + _NATIVE_SUFFIX))


def added_tolerations(template: LDict) -> list[dict[str, Any]]:
    """The tolerations the plugin adds to a pod built from this template (sorted by resource)."""
    names: set[str] = set()
    spec = template.get("spec") or {}
    for which in ("containers", "initContainers"):
        for c in spec.get(which) or []:
            res = get(c, "resources", default={}) or {}
            # Defaulting copies limits into absent requests before admission runs.
            for name in {**(res.get("limits") or {}), **(res.get("requests") or {})}:
                if is_extended_resource(str(name)):
                    names.add(str(name))
    return [{"key": n, "operator": "Exists", "effect": "NoSchedule"} for n in sorted(names)]
