"""A plan's DRA objects on the kwok control plane: its ResourceClaimTemplates applied beside the
RayCluster, and the ResourceClaims the claim controller made from them read back with the
scheduler's allocation (resource.k8s.io/v1).

A live run hands each pod's local Ray node the GPUs the scheduler allocated to the claims its Ray
container lists, as the driver's CDI devices would show them to Ray in the pod.

The kwok tier runs with the control plane's admin credentials; an in-cluster run (the cluster
backend, whose calls manifests/rbac grants) applies no claim templates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from gpuconf.kube.client import APPLY, FIELD_MANAGER, KubeClient
from gpuconf.kube.objects import PodInfo
from gpuconf.model.dra import DraDevice
from gpuconf.model.plan import Plan

DRA_GROUP, DRA_VERSION = "resource.k8s.io", "v1"


def apply_claim_templates(
    kube: KubeClient, namespace: str, templates: Sequence[dict[str, Any]], labels: dict[str, str]
) -> None:
    """Server-side apply each ResourceClaimTemplate into `namespace` (its spec as given)."""
    for doc in templates:
        name = str(doc["metadata"]["name"])
        body = {
            "apiVersion": f"{DRA_GROUP}/{DRA_VERSION}",
            "kind": "ResourceClaimTemplate",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            # a round trip through JSON drops the loader's line-tracking subclasses
            "spec": json.loads(json.dumps(doc.get("spec") or {})),
        }
        kube.custom.patch_namespaced_custom_object(
            DRA_GROUP,
            DRA_VERSION,
            namespace,
            "resourceclaimtemplates",
            name,
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY,
            _request_timeout=kube.timeout,
        )


def resource_claims(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    """The namespace's ResourceClaims as plain dicts, with their allocation status."""
    listed = kube.custom.list_namespaced_custom_object(
        DRA_GROUP, DRA_VERSION, namespace, "resourceclaims", _request_timeout=kube.timeout
    )
    return list(cast(dict[str, Any], listed).get("items") or [])


def real_allocations(claims: list[dict[str, Any]]) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Per owning pod: (the pod's name for the claim, the allocated `driver/pool/device` keys) of each claim.

    A claim made from a template is owned by its pod and annotated with the pod's name for it
    (`resource.kubernetes.io/pod-claim-name`); an unallocated claim has no devices.
    """
    out: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for claim in claims:
        meta = claim.get("metadata") or {}
        owner = next((o["name"] for o in meta.get("ownerReferences") or [] if o.get("kind") == "Pod"), None)
        if owner is None:
            continue
        name = (meta.get("annotations") or {}).get("resource.kubernetes.io/pod-claim-name", meta.get("name"))
        results = (((claim.get("status") or {}).get("allocation") or {}).get("devices") or {}).get("results") or []
        keys = tuple(sorted(f"{r['driver']}/{r['pool']}/{r['device']}" for r in results))
        out.setdefault(str(owner), []).append((str(name), keys))
    return out


def allocated_gpus(plan: Plan, pods: Sequence[PodInfo], claims: list[dict[str, Any]]) -> dict[str, list[DraDevice]]:
    """Per pod: the GPUs the scheduler allocated to the claims its Ray container lists.

    The devices are read from the plan's ResourceSlices (the pool the kwok tier publishes), so a
    GPU's product name gives Ray's accelerator type as in the plan; a device the plan's pool does
    not hold counts by its driver alone.
    """
    known = {d.key: d for n in plan.nodes for d in n.dra}
    groups = {g.label: g for g in plan.groups}
    allocated = real_allocations(claims)
    out: dict[str, list[DraDevice]] = {}
    for pod in pods:
        group = groups.get(pod.group)
        if group is None or group.dra is None:
            continue
        listed = group.dra.container_claims or []
        devices = [
            known.get(key) or _unknown_device(key)
            for claim, keys in allocated.get(pod.name, [])
            if claim in listed
            for key in keys
        ]
        out[pod.name] = [d for d in devices if d.is_gpu]
    return out


def _unknown_device(key: str) -> DraDevice:
    # driver and device names hold no slash; a pool name may (resource.k8s.io ResourcePool.Name)
    driver, rest = key.split("/", 1)
    pool, name = rest.rsplit("/", 1)
    return DraDevice(driver, pool, name, attributes=(), capacity=())
