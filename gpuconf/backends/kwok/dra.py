"""A plan's DRA objects on the kwok control plane: its ResourceClaimTemplates applied beside the
RayCluster, and the ResourceClaims the claim controller made from them read back with the
scheduler's allocation (resource.k8s.io/v1).

The kwok tier runs with the control plane's admin credentials; an in-cluster run (the cluster
backend, whose calls manifests/rbac grants) applies no claim templates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from gpuconf.kube.client import APPLY, FIELD_MANAGER, KubeClient

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
