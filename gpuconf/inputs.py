"""Reading the manifests: which documents are clusters, Serve configs, nodes, expectations.

A path may be a file or a folder (its YAML files plus `nodes/`). Any kind of input
the given paths lack is taken from the nearest ancestor folder that has it, so a
regression case file holds only what it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gpuconf import schema
from gpuconf.errors import InputError, Loc
from gpuconf.expectations import Expectations, parse_expectations
from gpuconf.loader import LDict, get, load_file, load_yaml_documents, loc_of, plain, require, yaml_files


@dataclass
class ClusterDoc:
    """A RayCluster spec, standalone or embedded in a RayService."""

    name: str
    kind: str
    spec: LDict
    loc: Loc


@dataclass
class ServeDoc:
    """A Serve config (the `serve deploy` format)."""

    body: LDict
    loc: Loc


@dataclass
class Target:
    """One RayCluster paired with the Serve config deployed on it."""

    name: str
    cluster: ClusterDoc
    serve: ServeDoc


@dataclass
class Inputs:
    """Everything loaded from the given paths."""

    clusters: list[ClusterDoc] = field(default_factory=list)
    services: list[tuple[ClusterDoc, ServeDoc]] = field(default_factory=list)
    serve_configs: list[ServeDoc] = field(default_factory=list)
    nodes: list[LDict] = field(default_factory=list)
    expectations: list[Expectations] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def targets(self) -> list[Target]:
        """The cluster/Serve pairs to check: each RayService, and the RayCluster with the Serve config."""
        out = [Target(f"RayService/{c.name}", c, s) for c, s in self.services]
        if self.clusters:
            if len(self.clusters) > 1:
                raise InputError(self.clusters[1].loc, "more than one RayCluster in the inputs",
                                 "check one RayCluster at a time (pass its file)")
            if not self.serve_configs:
                raise InputError(self.clusters[0].loc, "no Serve config to check the RayCluster against",
                                 "pass a serve config (a YAML with `applications:`) or keep one beside the manifests")
            if len(self.serve_configs) > 1:
                raise InputError(self.serve_configs[1].loc, "more than one Serve config in the inputs",
                                 "pass one Serve config")
            out.append(Target(f"RayCluster/{self.clusters[0].name}", self.clusters[0], self.serve_configs[0]))
        if not out:
            raise InputError(None, "no RayCluster or RayService found in the given paths",
                             "pass the folder or file that holds your RayCluster (e.g. manifests/)")
        return out


def load_inputs(paths: list[Path], nodes: list[Path] | None = None, expect: Path | None = None) -> Inputs:
    """Load and validate the given paths, filling missing kinds from ancestor folders."""
    if not paths:
        raise InputError(None, "no paths given", "pass at least one file or folder")
    inputs = Inputs()
    for path in paths:
        if not path.exists():
            raise InputError(None, f"{path}: no such file or folder")
        _load_path(path, inputs)
    if nodes:
        inputs.nodes = []
        for n in nodes:
            if not n.exists():
                raise InputError(None, f"{n}: no such file or folder (--nodes)")
            for f in yaml_files(n):
                _load_file(f, inputs, only="Node")
    if expect:
        if not expect.exists():
            raise InputError(None, f"{expect}: no such file (--expect)")
        inputs.expectations = []
        _load_file(expect, inputs, only="Expectations")
    _inherit(paths[0], inputs)
    if not inputs.nodes:
        raise InputError(None, "no node pool (Node objects) found for the manifests",
                         "pass --nodes FILE or keep a nodes/ folder beside the manifests")
    if not inputs.expectations:
        raise InputError(None, "no expectations (kind: Expectations) found",
                         "pass --expect FILE or keep expectations.yaml beside the manifests")
    if len(inputs.expectations) > 1:
        raise InputError(inputs.expectations[1].loc, "more than one Expectations document", "keep one")
    return inputs


def _load_path(path: Path, inputs: Inputs) -> None:
    for f in yaml_files(path):
        _load_file(f, inputs)
    if path.is_dir() and (path / "nodes").is_dir():
        for f in yaml_files(path / "nodes"):
            _load_file(f, inputs, only="Node")


def manifest_root(path: Path) -> Path | None:
    """The nearest folder, from the path's own folder up, that holds an expectations.yaml."""
    folder = path.resolve() if path.is_dir() else path.resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / "expectations.yaml").is_file():
            return candidate
    return None


def _inherit(first: Path, inputs: Inputs) -> None:
    """Fill each kind the inputs lack from the nearest manifest root."""
    has_cluster = bool(inputs.clusters or inputs.services)
    has_serve = bool(inputs.serve_configs or inputs.services)
    if has_cluster and has_serve and inputs.nodes and inputs.expectations:
        return
    root = manifest_root(first)
    if root is None:
        return
    base = Inputs()
    _load_path(root, base)
    if not has_cluster and not has_serve:
        inputs.clusters, inputs.services, inputs.serve_configs = base.clusters, base.services, base.serve_configs
    elif not has_cluster:
        inputs.clusters = base.clusters  # a Serve config alone overlays the base RayCluster
    elif not has_serve and inputs.clusters:
        inputs.serve_configs = base.serve_configs
    if not inputs.nodes:
        inputs.nodes = base.nodes
    if not inputs.expectations:
        inputs.expectations = base.expectations


def _load_file(path: Path, inputs: Inputs, only: str | None = None) -> None:
    inputs.files.append(str(path))
    for doc in load_file(path):
        if not isinstance(doc, LDict):
            raise InputError(Loc(str(path), 1), "a manifest document must be a mapping",
                             "each YAML document should be a Kubernetes object or a Serve config")
        kind = doc.get("kind")
        if only and kind != only:
            if kind is None and "applications" in doc and only != "Node":
                pass
            else:
                raise InputError(doc.loc, f"expected kind {only}, found {kind or 'no kind'}",
                                 f"this file should hold {only} objects only")
        _classify(doc, inputs)


def _classify(doc: LDict, inputs: Inputs) -> None:
    kind = doc.get("kind")
    api = doc.get("apiVersion")
    if kind is None and "applications" in doc:
        schema.validate_serve_config(doc)
        inputs.serve_configs.append(ServeDoc(doc, doc.loc))
        return
    if kind is None:
        raise InputError(doc.loc, "document has no `kind` and is not a Serve config (no `applications:`)",
                         "add apiVersion/kind, or `applications:` for a Serve config")
    if kind in ("RayCluster", "RayService"):
        if api != "ray.io/v1":
            raise InputError(loc_of(doc, "apiVersion"), f"{kind} apiVersion must be ray.io/v1, got {api!r}",
                             "use `apiVersion: ray.io/v1` (KubeRay >= 1.0)")
        name = require(doc, "metadata", "name", kind=str)
        if kind == "RayCluster":
            spec = require(doc, "spec", kind=dict)
            inputs.clusters.append(ClusterDoc(name, kind, spec, doc.loc))
        else:
            spec = require(doc, "spec", "rayClusterConfig", kind=dict)
            inputs.services.append((ClusterDoc(name, kind, spec, doc.loc), _embedded_serve_config(doc)))
        return
    if kind == "Node":
        schema.validate_k8s_object(doc, "Node")
        require(doc, "metadata", "name", kind=str)
        inputs.nodes.append(doc)
        return
    if kind == "List" and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            if isinstance(item, LDict):
                _classify(item, inputs)
        return
    if kind == "Expectations":
        inputs.expectations.append(parse_expectations(doc))
        return
    raise InputError(loc_of(doc, "kind"), f"unknown kind {kind!r}",
                     "gpuconf reads RayCluster, RayService (ray.io/v1), Node, Expectations and Serve configs")


def _embedded_serve_config(doc: LDict) -> ServeDoc:
    text = require(doc, "spec", "serveConfigV2", kind=str, what="the Serve config as a YAML string")
    key_loc = loc_of(doc, "spec", "serveConfigV2")
    # A block scalar (`|`) starts on the line after its key.
    offset = key_loc.line if key_loc else 0
    docs = load_yaml_documents(text, key_loc.file if key_loc else "<RayService>", line_offset=offset)
    if len(docs) != 1 or not isinstance(docs[0], LDict):
        raise InputError(key_loc, "serveConfigV2 must hold one Serve config mapping")
    schema.validate_serve_config(docs[0])
    return ServeDoc(docs[0], docs[0].loc)


__all__ = ["ClusterDoc", "ServeDoc", "Target", "Inputs", "load_inputs", "plain", "get"]
