"""Create kwok Node objects, and the DRA objects published beside them, from node-pool YAML files.

A node-pool file (e.g. ``manifests/nodes/gpu-pool.yaml``, or a folder of them) holds Node
objects (several documents, or a ``List``), and may hold the ResourceSlices and DeviceClasses
of a cluster whose GPUs a DRA driver publishes, as ``kubectl get resourceslices,deviceclasses
-o yaml`` prints them.

Each Node is applied as given — labels, taints, annotations — plus the annotation
``kwok.x-k8s.io/node: fake`` that tells kwok to play its kubelet. Its ``status`` (capacity,
allocatable, …) is applied to the status subresource, so ``nvidia.com/gpu: "1"`` is what the
real scheduler sees. kwok's node-initialize Stage then adds conditions, addresses and node
info, keeping the capacity. ResourceSlices and DeviceClasses are applied after the Nodes with
the metadata the server sets dropped; a slice of one node is owned by that node here, as the
driver's kubelet plugin makes it, so it goes with the node. The real scheduler's
DynamicResources plugin then allocates claims against them: allocation needs no driver.
Server-side apply makes all of this idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client

KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
FIELD_MANAGER = "gpuconf-kwok"
APPLY = "application/apply-patch+yaml"
DRA_GROUP, DRA_VERSION = "resource.k8s.io", "v1"
#: The DRA kinds a pool may hold, by their plural (both cluster-scoped).
DRA_PLURALS = {"ResourceSlice": "resourceslices", "DeviceClass": "deviceclasses"}
# Metadata of another cluster's objects that the API server sets itself.
_SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "ownerReferences")


@dataclass
class Pool:
    """The objects of node-pool files: Nodes, and the DRA objects that publish their devices."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    dra: list[dict[str, Any]] = field(default_factory=list)

    def names(self, kind: str) -> set[str]:
        """The names of the pool's objects of one kind."""
        docs = self.nodes if kind == "Node" else [d for d in self.dra if d.get("kind") == kind]
        return {str(d["metadata"]["name"]) for d in docs}


def load_pool(path: Path, other_kinds: bool = False) -> Pool:
    """The Nodes, ResourceSlices and DeviceClasses of one node-pool file.

    Any other kind is an error naming the file, unless `other_kinds` (then it is left out: a
    pool of the static tier may hold a Karpenter NodePool, which no control plane here serves).
    """
    pool = Pool()
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        items = doc.get("items", []) if doc.get("kind") == "List" else [doc]
        for item in items:
            kind = item.get("kind")
            if kind == "Node":
                pool.nodes.append(item)
            elif kind in DRA_PLURALS and str(item.get("apiVersion")) == f"{DRA_GROUP}/{DRA_VERSION}":
                pool.dra.append(item)
            elif not other_kinds:
                raise ValueError(
                    f"{path}: expected Node, ResourceSlice or DeviceClass ({DRA_GROUP}/{DRA_VERSION}) objects, "
                    f"found kind {kind!r} ({item.get('apiVersion')})"
                )
    return pool


def load_nodes(path: Path) -> list[dict]:
    """The Node objects of one node-pool file (its DRA objects aside)."""
    return load_pool(path).nodes


def as_kwok_node(node: dict) -> dict:
    """``node`` with the kwok annotation added and the server's metadata of another cluster dropped (a copy)."""
    metadata = {k: v for k, v in (node.get("metadata") or {}).items() if k not in _SERVER_METADATA}
    annotations = dict(metadata.get("annotations") or {})
    annotations[KWOK_ANNOTATION[0]] = KWOK_ANNOTATION[1]
    metadata["annotations"] = annotations
    # Another cluster's pod CIDRs mean nothing here, and once set the API server refuses to change them.
    spec = {k: v for k, v in (node.get("spec") or {}).items() if k not in ("podCIDR", "podCIDRs")}
    return {**node, "apiVersion": "v1", "kind": "Node", "metadata": metadata, "spec": spec}


def apply_node(core: client.CoreV1Api, node: dict) -> str:
    """Server-side apply one Node (object, then status); return its name."""
    node = as_kwok_node(node)
    name = node["metadata"]["name"]
    status = node.pop("status", None)
    core.patch_node(name, node, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY)
    if status:
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": status}
        core.patch_node_status(name, body, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY)
    return name


def as_local_object(doc: dict, core: client.CoreV1Api) -> dict:
    """A DRA object of another cluster as this one takes it: the server's metadata dropped, and a
    slice of one node owned by that node (its uid here), as the driver's kubelet plugin sets it."""
    metadata = {k: v for k, v in (doc.get("metadata") or {}).items() if k not in _SERVER_METADATA}
    metadata.pop("generateName", None)
    node_name = (doc.get("spec") or {}).get("nodeName")
    if doc.get("kind") == "ResourceSlice" and node_name:
        owner = core.read_node(node_name).metadata
        uid = owner.uid if owner else None
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": uid, "controller": True}
        ]
    return {**doc, "metadata": metadata}


def apply_dra_object(api: client.ApiClient, doc: dict) -> str:
    """Server-side apply one ResourceSlice or DeviceClass; return `kind/name`."""
    body = as_local_object(doc, client.CoreV1Api(api))
    name = str(body["metadata"]["name"])
    client.CustomObjectsApi(api).patch_cluster_custom_object(
        DRA_GROUP,
        DRA_VERSION,
        DRA_PLURALS[str(body["kind"])],
        name,
        body,
        field_manager=FIELD_MANAGER,
        force=True,
        _content_type=APPLY,
    )
    return f"{body['kind']}/{name}"


def node_pool_files(paths: Iterable[Path]) -> list[Path]:
    """``paths`` with each directory replaced by its ``*.yaml``/``*.yml`` files, sorted."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
            if not found:
                raise FileNotFoundError(f"{path}: no *.yaml node-pool files")
            files += found
        else:
            files.append(path)
    return files


def read_pools(paths: Iterable[Path], other_kinds: bool = False) -> Pool:
    """Every file's objects (folders read as node_pool_files does), in one Pool."""
    pool = Pool()
    for path in node_pool_files(paths):
        part = load_pool(path, other_kinds)
        pool.nodes += part.nodes
        pool.dra += part.dra
    return pool


def apply_pool(api: client.ApiClient, pool: Pool) -> list[str]:
    """Apply the Nodes, then their DRA objects (a slice's owner must exist); return what was applied."""
    core = client.CoreV1Api(api)
    return [apply_node(core, n) for n in pool.nodes] + [apply_dra_object(api, d) for d in pool.dra]


def apply_node_pools(api: client.ApiClient, paths: Iterable[Path]) -> list[str]:
    """Apply every Node and DRA object of every file (or directory of files); return them in order."""
    return apply_pool(api, read_pools(paths))


def replace_pool(api: client.ApiClient, pool: Pool) -> list[str]:
    """Make the control plane's pool exactly `pool`: apply it, then delete every other Node,
    ResourceSlice and DeviceClass. Returns what was deleted (`kind/name`)."""
    from kubernetes.client.exceptions import ApiException

    apply_pool(api, pool)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    deleted = []
    for kind, plural in DRA_PLURALS.items():
        listed = cast(dict[str, Any], custom.list_cluster_custom_object(DRA_GROUP, DRA_VERSION, plural))
        for name in sorted({str(o["metadata"]["name"]) for o in listed.get("items") or []} - pool.names(kind)):
            try:
                custom.delete_cluster_custom_object(DRA_GROUP, DRA_VERSION, plural, name)
            except ApiException as exc:
                if exc.status != 404:  # gone with its node already
                    raise
            deleted.append(f"{kind}/{name}")
    for name in sorted({str(n.metadata.name) for n in core.list_node().items if n.metadata} - pool.names("Node")):
        core.delete_node(name)
        deleted.append(f"Node/{name}")
    return deleted
