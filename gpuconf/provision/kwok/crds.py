"""Install the KubeRay CRDs by server-side apply and wait until they are Established.

The CRDs come from the ray-operator module at the pinned KubeRay version (``config/crd/bases``,
written as JSON into the binary cache at build time). Server-side apply avoids client-side apply's
``last-applied-configuration`` annotation, which these ~1 MB CRDs would overflow.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, cast

from kubernetes import client

from gpuconf.waits import wait_until

FIELD_MANAGER = "gpuconf-kwok"
APPLY = "application/apply-patch+yaml"


def load_crds(crd_dir: Path) -> list[dict]:
    """Every CustomResourceDefinition in ``crd_dir/*.json`` (converted from YAML at build time)."""
    crds = [json.loads(path.read_text()) for path in sorted(crd_dir.glob("*.json"))]
    if not crds:
        raise FileNotFoundError(f"no CustomResourceDefinition in {crd_dir}")
    return crds


def _established(ext: client.ApiextensionsV1Api, name: str) -> bool:
    # _preload_content=False: skip deserialising a 1 MB object just to read one condition.
    raw = cast(Any, ext.read_custom_resource_definition_status(name, _preload_content=False))
    conditions = json.loads(raw.data).get("status", {}).get("conditions", [])
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def _apply(ext: client.ApiextensionsV1Api, crd: dict) -> bool:
    ext.patch_custom_resource_definition(
        crd["metadata"]["name"],
        crd,
        field_manager=FIELD_MANAGER,
        force=True,
        _content_type=APPLY,
        _preload_content=False,
    )
    return True


def install_crds(api: client.ApiClient, crd_dir: Path) -> list[str]:
    """Apply every CRD in ``crd_dir`` (in parallel), wait until each is Established, return the names.

    The apiserver spends many CPU-seconds on each ~1 MB CRD (structural schema, OpenAPI), so the
    applies run side by side. An apply that fails (a busy apiserver can time out on a first
    CRD) is retried: server-side apply is idempotent.
    """
    ext = client.ApiextensionsV1Api(api)
    crds = load_crds(crd_dir)
    names = [crd["metadata"]["name"] for crd in crds]

    def apply(crd: dict) -> bool:
        name = crd["metadata"]["name"]
        return wait_until(partial(_apply, ext, crd), f"server-side apply of CRD {name}", tier="kube", interval=2.0)

    with ThreadPoolExecutor(max_workers=len(crds)) as pool:
        list(pool.map(apply, crds))
    for name in names:
        wait_until(partial(_established, ext, name), f"CRD {name} to be Established", tier="kube")
    return names
