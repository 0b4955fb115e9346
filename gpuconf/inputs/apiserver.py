"""The API server's rules that no schema expresses, on the pods KubeRay creates from a RayCluster.

The RayCluster itself is accepted (its CRD does not look into these), but every pod KubeRay
builds from the group is refused by the API server, so the group never gets a pod:

- container resources (ValidateResourceRequirements, k8s.io/kubernetes
  pkg/apis/core/validation/validation.go): an extended resource (a name with a domain outside
  kubernetes.io, such as nvidia.com/gpu) and hugepages are not overcommittable: a request needs a
  limit and must equal it; an extended resource is a whole number; any request is at most its
  limit (cpu, memory);
- the group's name: KubeRay labels each pod `ray.io/group: <groupName>` (common/pod.go labelPod),
  a label value, and names it `<cluster>-<group>` cut to 50 characters, lowercased, plus
  `-worker-` (utils.PodName, v1.5.0) as its generateName, a DNS-1123 subdomain.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gpuconf.errors import ApiServerRefusal
from gpuconf.inputs.crds import is_dns1123_subdomain, is_valid_label_value
from gpuconf.inputs.loader import LDict, get, loc_of
from gpuconf.inputs.quantity import parse_quantity

_REFUSED = "the API server refuses every pod KubeRay creates for this group (ValidateResourceRequirements)"


def is_extended_resource(name: str) -> bool:
    """helper.IsExtendedResourceName: a domain-prefixed name outside kubernetes.io (not `requests.*`)."""
    return "/" in name and not name.startswith("requests.") and "kubernetes.io/" not in name


def _overcommit_allowed(name: str) -> bool:
    """helper.IsOvercommitAllowed: a native resource that is not hugepages."""
    return not is_extended_resource(name) and not name.startswith("hugepages-")


def _amount(raw: Any) -> Decimal | None:
    try:
        return parse_quantity(raw)
    except ValueError:
        return None  # gpuconf.inputs.nodepool.check_quantity reports it


def check_container_resources(root: LDict, path: tuple[Any, ...], container: Any, field_path: str) -> None:
    """Refuse a container whose resources the API server would refuse (see the module docstring)."""
    limits = get(container, "resources", "limits")
    requests = get(container, "resources", "requests")
    limits = limits if isinstance(limits, dict) else {}
    requests = requests if isinstance(requests, dict) else {}
    for which, values in (("limits", limits), ("requests", requests)):
        for name, raw in values.items():
            value = _amount(raw)
            if value is not None and is_extended_resource(str(name)) and value != value.to_integral_value():
                raise ApiServerRefusal(
                    loc_of(root, *path, "resources", which, name),
                    f'{field_path}.resources.{which}[{name}]: Invalid value: "{raw}": must be an integer: {_REFUSED}',
                    f"an extended resource is counted in whole devices: e.g. `{name}: 1`",
                )
    for name, raw in requests.items():
        request = _amount(raw)
        key = str(name)
        where = loc_of(root, *path, "resources", "requests", name)
        if name not in limits:
            if not _overcommit_allowed(key):
                raise ApiServerRefusal(
                    where,
                    f"{field_path}.resources.limits[{key}]: Required value: Limit must be set for non overcommitable "
                    f"resources: {_REFUSED}",
                    f"add `{key}: {raw}` under resources.limits too (or drop the request: a limit alone sets both)",
                )
            continue
        limit = _amount(limits[name])
        if request is None or limit is None:
            continue
        if not _overcommit_allowed(key) and request != limit:
            raise ApiServerRefusal(
                where,
                f'{field_path}.resources.requests[{key}]: Invalid value: "{raw}": must be equal to {key} limit of '
                f"{limits[name]}: {_REFUSED}",
                f"make the request equal the limit: `{key}: {limits[name]}` (or drop the request)",
            )
        if request > limit:
            raise ApiServerRefusal(
                where,
                f'{field_path}.resources.requests[{key}]: Invalid value: "{raw}": must be less than or equal to '
                f"{key} limit of {limits[name]}: {_REFUSED}",
                f"lower the request to at most the limit ({limits[name]}), or raise the limit",
            )


def check_pod_resources(spec: LDict, group_path: tuple[Any, ...]) -> None:
    """Every container and init container of a group's pod template."""
    for which in ("containers", "initContainers"):
        items = get(spec, *group_path, "template", "spec", which)
        for i, container in enumerate(items if isinstance(items, list) else []):
            if isinstance(container, dict):
                path = (*group_path, "template", "spec", which, i)
                check_container_resources(spec, path, container, f"spec.{which}[{i}]")


# What KubeRay names the RayCluster of a RayService or RayJob (a suffix of this length is added).
CLUSTER_NAME_SUFFIX = {"RayCluster": "", "RayService": "-raycluster-xxxxx", "RayJob": "-xxxxx"}


def check_group_name(spec: LDict, index: int, cluster_name: str, kind: str) -> None:
    """A worker group's name must make a valid pod label value and pod name (see the module docstring)."""
    name = get(spec, "workerGroupSpecs", index, "groupName")
    if not isinstance(name, str):
        return
    where = loc_of(spec, "workerGroupSpecs", index, "groupName")
    if not is_valid_label_value(name):
        raise ApiServerRefusal(
            where,
            f"groupName {name!r}: KubeRay labels the group's pods `ray.io/group: {name}`, and the API server "
            "refuses that label value (at most 63 characters of letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit): the group never gets a pod",
            "use a name like `gpu-workers`",
        )
    cluster = cluster_name.replace("<generated>", "xxxxx")  # metadata.generateName: 5 random characters
    prefix = f"{cluster}{CLUSTER_NAME_SUFFIX[kind]}-{name}"[:50].lower() + "-worker-"
    masked = prefix[:-1] + "a"  # generateName is checked with its trailing '-' masked (maskTrailingDash)
    if not is_dns1123_subdomain(masked):
        raise ApiServerRefusal(
            where,
            f"groupName {name!r}: KubeRay names the group's pods {prefix}<random> (utils.PodName), which is not a "
            "DNS-1123 subdomain (lowercase letters, digits, '-' and '.', each part starting and ending with a "
            "letter or digit): the API server refuses every pod of the group",
            "use lowercase letters, digits and '-' in groupName, e.g. `gpu-workers`",
        )
