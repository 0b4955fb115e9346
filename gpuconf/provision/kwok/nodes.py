"""Create kwok Node objects from node-pool YAML files (e.g. ``manifests/nodes/gpu-pool.yaml``, or a folder of them).

A node-pool file holds Node objects (several documents, or a ``List``). Each is applied as
given — labels, taints, annotations — plus the annotation ``kwok.x-k8s.io/node: fake`` that
tells kwok to play its kubelet. Its ``status`` (capacity, allocatable, …) is applied to the
status subresource, so ``nvidia.com/gpu: "1"`` is what the real scheduler sees. kwok's
node-initialize Stage then adds conditions, addresses and node info, keeping the capacity.
Server-side apply makes this idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from kubernetes import client

KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
FIELD_MANAGER = "gpuconf-kwok"
APPLY = "application/apply-patch+yaml"


def load_nodes(path: Path) -> list[dict]:
    """The Node objects of one node-pool file; anything else in it is an error naming the file."""
    nodes = []
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        items = doc.get("items", []) if doc.get("kind") == "List" else [doc]
        for item in items:
            if item.get("kind") != "Node":
                raise ValueError(f"{path}: expected Node objects, found kind {item.get('kind')!r}")
            nodes.append(item)
    return nodes


def as_kwok_node(node: dict) -> dict:
    """``node`` with the kwok annotation added (a copy; the input is not changed)."""
    metadata = dict(node.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    annotations[KWOK_ANNOTATION[0]] = KWOK_ANNOTATION[1]
    metadata["annotations"] = annotations
    return {**node, "apiVersion": "v1", "kind": "Node", "metadata": metadata}


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


def apply_node_pools(api: client.ApiClient, paths: Iterable[Path]) -> list[str]:
    """Apply every Node of every file (or directory of files); return the node names in order."""
    core = client.CoreV1Api(api)
    return [apply_node(core, node) for path in node_pool_files(paths) for node in load_nodes(path)]
