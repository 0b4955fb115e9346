"""Reading the manifests: which documents are clusters, Serve configs, nodes, expectations.

A path may be a file or a folder. Folders are read recursively: their YAML files, `nodes/`
as the node pool, and any subfolder holding its own `expectations.yaml` as a separate
manifest root. Any kind of input the given paths lack is taken from the nearest ancestor
folder that has it (the manifest root), so a regression case file holds only what it
changes. Kinds gpuconf does not model are skipped and listed. See docs/static-inputs.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gpuconf.errors import ApiServerRefusal, InputError, KubeRayRefusal, Loc, YamlRefusal
from gpuconf.inputs import schema
from gpuconf.inputs.expectations import (
    Expectations,
    default_expectations,
    most_advertised_gpu_resource,
    parse_expectations,
)
from gpuconf.inputs.limits import MAX_FILES
from gpuconf.inputs.loader import (
    YAML11,
    LDict,
    display_path,
    get,
    load_yaml_documents,
    loc_of,
    plain,
    read_text,
    require,
    yaml_files,
)
from gpuconf.inputs.nodepool import (
    DRA_API,
    DRA_INVENTORY_KINDS,
    DRA_WORKLOAD_KINDS,
    INVENTORY_NOTICE,
    PROVISIONER_KINDS,
    check_quantity,
    validate_node,
    validate_node_pool,
)
from gpuconf.inputs.prescan import load_documents
from gpuconf.inputs.rendered import STDIN, HelmOptions, Rendered, kind_of_folder, read_stdin, render_folder
from gpuconf.inputs.suppressions import Suppression, annotation_suppressions

# KubeRay 1.5's CRDs serve ray.io/v1 and, deprecated, ray.io/v1alpha1.
RAY_API_VERSIONS = ("ray.io/v1", "ray.io/v1alpha1")
RAY_KINDS = ("RayCluster", "RayService", "RayJob")
# The first line of a regression case (gpuconf.static.regressions): a known-bad manifest, read only by name.
_CASE_HEADER = "# expect:"


@dataclass
class ClusterDoc:
    """A RayCluster spec: standalone, in a RayJob (`rayClusterSpec`) or a RayService (`rayClusterConfig`)."""

    name: str
    kind: str
    spec: LDict
    loc: Loc
    # gpuconf.io/ignore on the object's metadata: rules silenced for this object only.
    suppressions: list[Suppression] = field(default_factory=list)
    # metadata.labels of the Ray object (batch schedulers read their queue labels there).
    labels: dict[str, str] = field(default_factory=dict)
    # The keys from the object to `spec` (--fix edits the object by key path).
    spec_path: tuple[str, ...] = ("spec",)


@dataclass
class ServeDoc:
    """A Serve config (the `serve deploy` format); `given` is False when none was given."""

    body: LDict
    loc: Loc | None
    given: bool = True


@dataclass
class Target:
    """One RayCluster paired with the Serve config deployed on it (possibly none)."""

    name: str
    cluster: ClusterDoc
    serve: ServeDoc


@dataclass(frozen=True)
class Notice:
    """Something the output should say that is neither a finding nor an error."""

    loc: Loc | None
    message: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc else self.message


def no_serve_config() -> ServeDoc:
    """The stand-in Serve config of a cluster deployed without one: no deployments."""
    return ServeDoc(LDict(), None, given=False)


@dataclass
class Inputs:
    """Everything loaded for one manifest root."""

    clusters: list[ClusterDoc] = field(default_factory=list)
    services: list[tuple[ClusterDoc, ServeDoc]] = field(default_factory=list)
    serve_configs: list[ServeDoc] = field(default_factory=list)
    nodes: list[LDict] = field(default_factory=list)
    # The DRA inventory beside the nodes, and the workload's claim templates (gpuconf.inputs.nodepool).
    resource_slices: list[LDict] = field(default_factory=list)
    device_classes: list[LDict] = field(default_factory=list)
    claim_templates: list[LDict] = field(default_factory=list)
    expectations: list[Expectations] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    root: Path | None = None
    defaults_used: bool = False
    skipped_cases: list[Path] = field(default_factory=list)
    # Why a root holds nothing to plan although every document was read: other kinds only, or
    # RayJobs that run on an existing cluster. Not an error: targets() then returns none.
    nothing_to_check: list[Notice] = field(default_factory=list)

    def targets(self) -> list[Target]:
        """The cluster/Serve pairs to check: each RayService, each RayCluster/RayJob with its Serve config."""
        out = [Target(f"RayService/{c.name}", c, s) for c, s in self.services]
        pairs = _pair_serve_configs(self.clusters, self._serve_configs_not_held())
        for cluster in self.clusters:
            serve = pairs.get(id(cluster))
            if serve is None:
                serve = no_serve_config()
            out.append(Target(f"{cluster.kind}/{cluster.name}", cluster, serve))
        if not out and self.nothing_to_check and not self.serve_configs:
            return []
        if not out:
            raise InputError(
                Loc(display_path(Path(self.files[0])), 1) if self.files else None,
                "no RayCluster, RayJob or RayService to check in the given paths"
                + (" (" + "; ".join(str(n) for n in self.notices[:3]) + ")" if self.notices else ""),
                "pass the folder or file that holds your RayCluster (e.g. manifests/)",
            )
        counts: dict[str, int] = {}
        for t in out:
            counts[t.name] = counts.get(t.name, 0) + 1
        for t in out:
            if counts[t.name] > 1:
                t.name = f"{t.name} ({t.cluster.loc.file})"
        return out

    def _serve_configs_not_held(self) -> list[ServeDoc]:
        """The standalone Serve configs, less a copy of a RayService's own serveConfigV2 that no
        cluster takes: it is read once, as the RayService's (said in a note)."""
        takers = _pair_serve_configs(self.clusters, self.serve_configs, refuse=False)
        held = {id(s) for s in takers.values()}
        out = []
        for serve in self.serve_configs:
            service = next((c for c, own in self.services if own.given and plain(own.body) == plain(serve.body)), None)
            if service is None or id(serve) in held:
                out.append(serve)
                continue
            note = Notice(serve.loc, f"the same Serve config as RayService/{service.name}'s serveConfigV2: read once")
            if note not in self.notices:
                self.notices.append(note)
        return out


def _pair_serve_configs(
    clusters: list[ClusterDoc], serve_configs: list[ServeDoc], refuse: bool = True
) -> dict[int, ServeDoc]:
    """Which standalone Serve config goes with which cluster: the one of its file, or the only one.

    A Serve config left over is an error, unless `refuse` is False."""
    pairs: dict[int, ServeDoc] = {}
    unpaired = list(serve_configs)
    for c in clusters:
        same_file = [s for s in unpaired if s.loc is not None and s.loc.file == c.loc.file]
        if len(same_file) == 1:
            pairs[id(c)] = same_file[0]
            unpaired.remove(same_file[0])
    alone = [c for c in clusters if id(c) not in pairs]
    if len(alone) == 1 and len(unpaired) == 1:
        pairs[id(alone[0])] = unpaired.pop()
    if unpaired and refuse:
        if len(unpaired) > 1 and len(alone) <= 1:
            raise InputError(
                unpaired[1].loc,
                "more than one Serve config for one RayCluster",
                "pass one Serve config with its RayCluster",
            )
        raise InputError(
            unpaired[0].loc,
            "cannot tell which RayCluster this Serve config is for",
            "keep the Serve config in the file of its RayCluster, or pass the two together",
        )
    return pairs


def load_inputs(paths: list[Path], nodes: list[Path] | None = None, expect: Path | None = None) -> Inputs:
    """Load the given paths as one manifest root (the first one's), filling missing kinds from it."""
    return load_roots(paths, nodes, expect)[0]


def load_roots(
    paths: list[Path],
    nodes: list[Path] | None = None,
    expect: Path | None = None,
    import_apps: Path | None = None,
    helm: HelmOptions | None = None,
) -> list[Inputs]:
    """Load the given paths, one Inputs per manifest root, each with its own nodes and expectations.

    With `import_apps`, Serve apps that list no deployments get them from `serve build` (gpuconf.inputs.import_apps).
    A path `-` is the YAML stream on stdin; a Helm chart or Kustomize folder is rendered first
    (gpuconf.inputs.rendered).
    """
    if not paths:
        raise InputError(None, "no paths given", "pass at least one file or folder")
    helm = helm or HelmOptions()
    groups: dict[Path | None, list[Path | Rendered]] = {}
    charts = 0
    for path in paths:
        if str(path) == STDIN:
            if any(isinstance(p, Rendered) and p.folder is None for g in groups.values() for p in g):
                raise InputError(None, "`-` (stdin) given twice", "pass `-` once")
            groups.setdefault(manifest_root(Path.cwd()), []).append(read_stdin())
            continue
        if not path.exists() and not path.is_symlink():
            raise InputError(
                None, f"{path}: no such file or folder", "check the path (gpuconf check --help lists what it reads)"
            )
        _refuse_link_loop(path)
        kind = kind_of_folder(path)
        if kind is not None:
            charts += kind == "helm"
            groups.setdefault(manifest_root(path), []).append(render_folder(path, helm))
            continue
        for sub in _roots_below(path):
            groups.setdefault(manifest_root(sub), []).append(sub)
    if (helm.values or helm.sets) and not charts:
        raise InputError(
            None,
            "--helm-values/--helm-set given, but no Helm chart (a folder with Chart.yaml) among the paths",
            "pass the chart folder, or drop the Helm options",
        )
    node_docs = _load_only(nodes, "Node", "--nodes") if nodes else None
    expectations = _load_only([expect], "Expectations", "--expect") if expect else None
    loaded: list[tuple[list[Path | Rendered], Inputs]] = []
    for root, group in groups.items():
        inputs = Inputs(root=root)
        for p in group:
            if isinstance(p, Rendered):
                _load_rendered(p, inputs)
            else:
                _load_path(p, inputs, direct=True)
        loaded.append((group, inputs))
    adopted = _pair_across_roots(loaded)
    out = []
    for group, inputs in loaded:
        if any(inputs is donor for _, donor, _ in adopted):
            continue
        if node_docs is not None:
            inputs.nodes = list(node_docs.nodes)
            inputs.resource_slices, inputs.device_classes = node_docs.resource_slices, node_docs.device_classes
            inputs.notices.extend(node_docs.notices)
        if expectations is not None:
            inputs.expectations = list(expectations.expectations)
        first = group[0]
        if not isinstance(first, Rendered):
            _inherit(first, inputs)
        elif first.folder is not None:
            _inherit(first.folder, inputs)
        for taker, _, donor_first in adopted:
            if taker is inputs and donor_first is not None:
                _inherit(donor_first, inputs)  # the nodes and expectations its own root lacks
        if import_apps is not None:
            _import_apps(inputs, import_apps)
        _finish(inputs)
        out.append(inputs)
    return out


def _pair_across_roots(
    loaded: list[tuple[list[Path | Rendered], Inputs]],
) -> list[tuple[Inputs, Inputs, Path | None]]:
    """Serve configs named without a cluster go to the one root whose named paths hold clusters
    without a Serve config, wherever the two lie: neither then takes a cluster or a Serve config
    from its own folder that the user did not name. Returns (taker, donor, the donor's first
    path): the donor is merged into the taker, which may still inherit the nodes and expectations
    of the donor's folder."""
    donors = [(g, i) for g, i in loaded if i.serve_configs and not i.clusters and not i.services]
    takers = [i for _, i in loaded if i.clusters and not i.serve_configs]
    if not donors or not takers:
        return []
    if len(takers) > 1:
        raise InputError(
            donors[0][1].serve_configs[0].loc,
            f"cannot tell which RayCluster this Serve config is for: the clusters named lie in {len(takers)} "
            "folders of their own (manifest roots)",
            "pass the Serve config in the file or folder of its RayCluster, or check each pair in its own call",
        )
    taker = takers[0]
    out: list[tuple[Inputs, Inputs, Path | None]] = []
    for group, donor in donors:
        taker.serve_configs += donor.serve_configs
        taker.files += donor.files
        taker.notices += donor.notices
        taker.claim_templates += donor.claim_templates
        if not taker.nodes:
            taker.nodes, taker.resource_slices = donor.nodes, donor.resource_slices
            taker.device_classes = donor.device_classes
        taker.expectations = taker.expectations or donor.expectations
        first = group[0]
        out.append((taker, donor, first.folder if isinstance(first, Rendered) else first))
    return out


def _refuse_link_loop(path: Path) -> None:
    """A symbolic link that loops (or dangles) is bad input at the path, not a traceback from resolve()."""
    try:
        path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        loop = isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == 40  # ELOOP
        raise InputError(
            Loc(str(path), 1),
            f"cannot read {path}: "
            + ("a symbolic link loop" if loop else (getattr(exc, "strerror", None) or str(exc))),
            "point the link at a real YAML file or folder, or pass that file itself",
        ) from None


def _load_rendered(stream: Rendered, inputs: Inputs) -> None:
    """A rendered (or piped) stream, plus the expectations.yaml and nodes/ of its folder (stdin: the working folder's root)."""
    for chunk in stream.chunks:
        inputs.files.append(chunk.file)
        for doc in load_documents(chunk.text, chunk.file, needs_reading, chunk.line_offset):
            if not isinstance(doc, LDict):
                raise YamlRefusal(
                    getattr(doc, "loc", None) or Loc(chunk.file, 1),
                    "a manifest document must be a mapping",
                    "each YAML document should be a Kubernetes object or a Serve config",
                )
            _classify(doc, inputs)
    folder = stream.folder if stream.folder is not None else manifest_root(Path.cwd())
    if folder is None:
        return
    if (folder / "expectations.yaml").is_file() and not inputs.expectations:
        _load_file(folder / "expectations.yaml", inputs, only="Expectations")
    if (folder / "nodes").is_dir() and not inputs.nodes:
        for f in yaml_files(folder / "nodes", recursive=True):
            _load_file(f, inputs, only="Node")
    if stream.folder is None:
        return
    # A Serve config has no `kind`, so neither a chart nor a kustomization can hold it: one kept
    # beside them (top level of the folder) goes with the rendered cluster.
    if not inputs.serve_configs and not inputs.services:
        for f in yaml_files(stream.folder):
            if _is_serve_config_file(f):
                _load_file(f, inputs)
    inputs.notices.append(Notice(None, f"checked {stream.name} as rendered by `{stream.shown_command}`"))


def _is_serve_config_file(path: Path) -> bool:
    """A top-level `applications:` and no `kind:`: a Serve config (the `serve deploy` format)."""
    import re

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(re.search(r"^applications:", text, re.M)) and not re.search(r"^kind:", text, re.M)


def _import_apps(inputs: Inputs, app_dir: Path) -> None:
    from gpuconf.inputs.import_apps import import_code_defined_apps

    if not app_dir.is_dir():
        raise InputError(None, f"{app_dir}: no such folder (--import-apps)", "pass the folder that holds the app code")
    standalone = [(s, True) for s in inputs.serve_configs]
    for serve, local_working_dirs in [(s, False) for _, s in inputs.services] + standalone:
        if serve.given:
            names = import_code_defined_apps(serve.body, app_dir)
            if names:
                schema.validate_serve_config(serve.body, local_working_dirs=local_working_dirs)
                inputs.notices.append(
                    Notice(
                        serve.loc,
                        f"deployments of {', '.join(names)} read with `serve build` from {display_path(app_dir)}",
                    )
                )


def _roots_below(path: Path) -> list[Path]:
    """The path, plus every folder below it that is a manifest root of its own."""
    if not path.is_dir():
        return [path]
    subs = [
        sub.parent
        for sub in sorted(path.rglob("expectations.yaml"))
        if sub.parent != path and not any(part.startswith(".") for part in sub.parent.relative_to(path).parts)
    ]
    own = manifest_root(path)
    has_own = any(manifest_root(f) == own for f in yaml_files(path, recursive=True, skip=("nodes",)))
    # A folder that only holds other manifest roots is not a root of its own.
    return ([path] if has_own or not subs else []) + subs


def _load_only(paths: list[Path], kind: str, option: str) -> Inputs:
    loaded = Inputs()
    for p in paths:
        if not p.exists():
            raise InputError(None, f"{p}: no such file or folder ({option})", f"pass an existing file to {option}")
        for f in yaml_files(p, recursive=True):
            _load_file(f, loaded, only=kind)
    found = loaded.nodes if kind == "Node" else loaded.expectations
    if not found:
        raise InputError(
            Loc(display_path(paths[0]), 1),
            f"{option} holds no {kind} object",
            f"pass a file with `kind: {kind}`"
            + (" (e.g. `kubectl get nodes -o yaml > nodes.yaml`)" if kind == "Node" else ""),
        )
    return loaded


def _finish(inputs: Inputs) -> None:

    folders: dict[Path, int] = {}
    for case in inputs.skipped_cases:
        folders[case.parent] = folders.get(case.parent, 0) + 1
    for folder, count in folders.items():
        inputs.notices.append(
            Notice(
                None,
                f"skipped {count} regression case(s) in {display_path(folder)}/ "
                "(known-bad manifests, each starting `# expect:`): check them by name",
            )
        )

    nothing_to_plan = not (inputs.clusters or inputs.services or inputs.serve_configs) and inputs.nothing_to_check
    if not inputs.nodes and not nothing_to_plan:
        first = inputs.clusters[0].loc if inputs.clusters else inputs.services[0][0].loc if inputs.services else None
        raise InputError(
            first or (Loc(display_path(Path(inputs.files[0])), 1) if inputs.files else None),
            "no node pool (Node objects) found for the manifests",
            "pass --nodes FILE (e.g. `kubectl get nodes -o yaml > nodes.yaml`) "
            "or keep a nodes/ folder beside the manifests",
        )
    if inputs.nodes:
        validate_node_pool(inputs.nodes)
    if len(inputs.expectations) > 1:
        raise InputError(inputs.expectations[1].loc, "more than one Expectations document", "keep one")
    if not inputs.expectations:
        serve = [s for _, s in inputs.services] + inputs.serve_configs
        inputs.expectations = [default_expectations(inputs.nodes, [s.body for s in serve])]
        inputs.defaults_used = True
        inputs.notices.append(
            Notice(
                None,
                "no expectations file: using the defaults (a GPU node is a node with "
                "allocatable GPUs; the GPU deployments are those with num_gpus > 0); "
                "pass --expect FILE to declare them",
            )
        )
    exp = inputs.expectations[0]
    if exp.gpu_resources is None and not exp.defaults:
        # No GPU resource named: fixes and messages name the one this pool advertises most.
        inputs.expectations = [replace(exp, gpu_resource=most_advertised_gpu_resource(inputs.nodes))]


def _load_path(path: Path, inputs: Inputs, direct: bool) -> None:
    if path.is_dir():
        files = list(yaml_files(path, recursive=True, skip=("nodes",)))
        files = [f for f in files if f.parent == path or manifest_root(f) == manifest_root(path)]
        files = _outside_rendered_folders(path, files, inputs)
        if not files:
            raise InputError(
                Loc(display_path(path), 1),
                "folder holds no YAML file",
                "pass a folder with .yaml/.yml files, or the file itself",
            )
        if len(files) > MAX_FILES:
            raise InputError(
                Loc(display_path(path), 1),
                f"{len(files)} YAML files, over the limit of {MAX_FILES}",
                "pass a smaller folder",
            )
        for f in files:
            _load_file(f, inputs, direct=False)
        for nodes_dir in [path / "nodes", *(p for p in path.rglob("nodes") if p.is_dir())]:
            if nodes_dir.is_dir() and manifest_root(nodes_dir) == manifest_root(path):
                for f in yaml_files(nodes_dir, recursive=True):
                    _load_file(f, inputs, only="Node")
                break
        return
    _load_file(path, inputs, direct=direct)


def _outside_rendered_folders(top: Path, files: list[Path], inputs: Inputs) -> list[Path]:
    """The files not inside a Helm chart or Kustomize folder below `top`: those are checked rendered, by name."""
    rendered: dict[Path, str] = {}
    kinds: dict[Path, str | None] = {}  # one look per folder, not per file

    def kind(d: Path) -> str | None:
        if d not in kinds:
            kinds[d] = kind_of_folder(d)
        return kinds[d]

    kept = []
    for f in files:
        folder = next((d for d in [f.parent, *f.parent.parents] if d != top and top in d.parents and kind(d)), None)
        if folder is None:
            kept.append(f)
        else:
            rendered.setdefault(folder, str(kind(folder)))
    for folder, found in rendered.items():
        what = "a Helm chart" if found == "helm" else "a Kustomize folder"
        inputs.notices.append(
            Notice(
                None,
                f"skipped {display_path(folder)}/: {what}, whose files are not manifests until rendered; "
                f"check it by name: `gpuconf check {display_path(folder)}`",
            )
        )
    return kept


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
    if root != (first.resolve() if first.is_dir() else None):
        read = {Path(f).resolve() for f in inputs.files}
        for f in yaml_files(root):
            if not _is_case(f) and f.resolve() not in read:  # a named file is read once
                _load_file(f, base, direct=False)
        if (root / "nodes").is_dir():
            for f in yaml_files(root / "nodes", recursive=True):
                _load_file(f, base, only="Node")
    if not has_cluster and not has_serve:
        inputs.clusters, inputs.services, inputs.serve_configs = base.clusters, base.services, base.serve_configs
    elif not has_cluster:
        inputs.clusters = base.clusters  # a Serve config alone overlays the base RayCluster
    elif not has_serve and inputs.clusters:
        inputs.serve_configs = base.serve_configs
    if not inputs.nodes:
        inputs.nodes = base.nodes
        inputs.resource_slices, inputs.device_classes = base.resource_slices, base.device_classes
        inputs.notices.extend(n for n in base.notices if n.message.startswith(INVENTORY_NOTICE))
    if not inputs.claim_templates:
        inputs.claim_templates = base.claim_templates
    if not inputs.expectations:
        inputs.expectations = base.expectations


def _is_case(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(_CASE_HEADER)).decode("utf-8", "replace") == _CASE_HEADER
    except OSError:
        return False


def _load_file(path: Path, inputs: Inputs, only: str | None = None, direct: bool = True) -> None:
    shown = display_path(path)
    if not direct and only is None and _is_case(path):
        inputs.skipped_cases.append(path)
        return
    inputs.files.append(str(path))
    text = read_text(path)
    needed = None if only else needs_reading
    docs = load_documents(text, shown, needed)
    if any(_read_as_yaml11(d) and _reads_differently(d) for d in docs):
        # `serve deploy`/`serve run` read a Serve config file with PyYAML (YAML 1.1), not as kubectl does,
        # and gpuconf's own Expectations have always been read so.
        again = load_documents(text, shown, needed, reading=YAML11)
        docs = [y if _read_as_yaml11(k) else k for k, y in zip(docs, again, strict=False)]
    if not docs:
        if direct or only:
            raise InputError(
                Loc(shown, 1),
                "file holds no YAML document (it is empty)",
                "pass a file with a RayCluster, RayJob, RayService, Node or Expectations",
            )
        inputs.notices.append(Notice(Loc(shown, 1), "empty file skipped"))
        return
    for doc in docs:
        if not isinstance(doc, LDict):
            raise YamlRefusal(
                getattr(doc, "loc", None) or Loc(shown, 1),
                "a manifest document must be a mapping",
                "each YAML document should be a Kubernetes object or a Serve config",
            )
        _classify(doc, inputs, only)


def needs_reading(kind: str, api: str) -> bool:
    """Whether a document of this kind and apiVersion is read whole: every kind `_classify` models or
    refuses (Ray's, a near miss of one, Nodes, the DRA and provisioner kinds, Lists, Expectations);
    any other is only listed as not modelled (gpuconf.inputs.prescan)."""
    group = api.split("/")[0] if "/" in api else ""
    return (
        kind in (*RAY_KINDS, "Node", "Expectations", *DRA_INVENTORY_KINDS, *DRA_WORKLOAD_KINDS)
        or kind.endswith("List")
        or kind.lower().startswith("ray")
        or group in ("ray.io", "resource.k8s.io")
        or (group, kind) in PROVISIONER_KINDS
    )


def _reads_differently(obj: Any) -> bool:
    """Whether a plain scalar somewhere in obj reads differently in YAML 1.1 (the loader noted it): else no re-parse."""
    if getattr(obj, "readings", None):
        return True
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ()
    return any(_reads_differently(v) for v in values)


def _read_as_yaml11(doc: Any) -> bool:
    """A Serve config document (no `kind`, an `applications:` key) or gpuconf's Expectations: not for kubectl."""
    if not isinstance(doc, dict):
        return False
    return (doc.get("kind") is None and "applications" in doc) or doc.get("kind") == "Expectations"


def _classify(doc: LDict, inputs: Inputs, only: str | None = None) -> None:
    kind = doc.get("kind")
    api = doc.get("apiVersion")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list)):
        items = require(doc, "items", kind=list, what="the objects of the List")
        for i, item in enumerate(items):
            if not isinstance(item, LDict):
                raise InputError(
                    loc_of(doc, "items", i),
                    "a List item must be an object (a mapping)",
                    "each item should be a Kubernetes object",
                )
            _classify(item, inputs, only)
        return
    if take_inventory(doc, inputs, only):
        return
    if only is not None and kind != only:
        raise InputError(
            loc_of(doc, "kind") or doc.loc,
            f"expected kind {only}, found {kind or 'no kind'}",
            f"this file should hold {only} objects only (a `kind: List` of them is fine)",
        )
    if kind is None and "applications" in doc:
        # A Serve config file is also `serve run`'s input, which uploads a local working_dir itself.
        schema.validate_serve_config(doc, local_working_dirs=True)
        inputs.serve_configs.append(ServeDoc(doc, doc.loc))
        return
    if kind is None:
        raise YamlRefusal(
            doc.loc,
            "document has no `kind` and is not a Serve config (no `applications:`)",
            "add apiVersion/kind, or `applications:` for a Serve config",
        )
    if not isinstance(kind, str):
        raise YamlRefusal(
            loc_of(doc, "kind"), f"`kind` must be a string, got {type(kind).__name__}", "e.g. `kind: RayCluster`"
        )
    if kind in RAY_KINDS and isinstance(api, str) and api.startswith("ray.io/"):
        _ray_object(doc, kind, api, inputs)
        return
    if kind == "Node" and api == "v1":
        validate_node(doc)  # before the schema: its messages name the fix
        schema.validate_k8s_object(doc, "Node")
        require(doc, "metadata", "name", kind=str, refusal=ApiServerRefusal)
        inputs.nodes.append(doc)
        return
    if kind == "Expectations":
        inputs.expectations.append(parse_expectations(doc))
        return
    name = get(doc, "metadata", "name", default="?")
    _refuse_near_ray_kind(doc, kind, api)
    notice = Notice(doc.loc, f"not modelled: {kind}/{name} ({api or 'no apiVersion'})")
    inputs.notices.append(notice)
    inputs.nothing_to_check.append(notice)


def _refuse_near_ray_kind(doc: LDict, kind: str, api: Any) -> None:
    """A misspelt Ray kind (or an unknown ray.io kind) is bad input, not 'not modelled': that would pass over nothing."""
    import difflib

    close = difflib.get_close_matches(kind, RAY_KINDS, n=1, cutoff=0.8) if kind.lower().startswith("ray") else []
    if close or (isinstance(api, str) and api.startswith("ray.io/")):
        raise ApiServerRefusal(
            loc_of(doc, "kind"),
            f"kind {kind!r} ({api}) is not one KubeRay 1.5 serves",
            f"did you mean `kind: {close[0]}`?" if close else f"use one of {', '.join(RAY_KINDS)}",
        )


def _ray_object(doc: LDict, kind: str, api: str, inputs: Inputs) -> None:
    if api not in RAY_API_VERSIONS:
        raise ApiServerRefusal(
            loc_of(doc, "apiVersion"),
            f"{kind} apiVersion {api!r} is not served by KubeRay 1.5",
            "use `apiVersion: ray.io/v1`",
        )
    from gpuconf.inputs.crds import validate_ray_object

    validate_ray_object(doc, kind, api)
    name = _object_name(doc)
    suppressions = annotation_suppressions(doc)
    if api != "ray.io/v1":
        inputs.notices.append(
            Notice(
                loc_of(doc, "apiVersion"),
                f"{kind}/{name}: {api} is deprecated; read as ray.io/v1 (change `apiVersion: ray.io/v1`)",
            )
        )
    if kind == "RayCluster":
        spec = require(doc, "spec", kind=dict, refusal=ApiServerRefusal)
        inputs.clusters.append(ClusterDoc(name, kind, spec, doc.loc, suppressions, _object_labels(doc)))
        _replica_notices(inputs.clusters[-1], inputs)
    elif kind == "RayJob":
        if get(doc, "spec", "clusterSelector") is not None and get(doc, "spec", "rayClusterSpec") is None:
            notice = Notice(
                loc_of(doc, "spec", "clusterSelector"),
                f"RayJob/{name} uses an existing cluster (spec.clusterSelector): "
                "pass that RayCluster's manifest to check it",
            )
            inputs.notices.append(notice)
            inputs.nothing_to_check.append(notice)
            return
        path = ("spec", "rayClusterSpec")
        spec = require(doc, *path, kind=dict, what="the cluster the job runs on", refusal=KubeRayRefusal)
        inputs.clusters.append(ClusterDoc(name, kind, spec, doc.loc, suppressions, _object_labels(doc), path))
        _replica_notices(inputs.clusters[-1], inputs)
    else:
        path = ("spec", "rayClusterConfig")
        spec = require(doc, *path, kind=dict)
        cluster = ClusterDoc(name, kind, spec, doc.loc, suppressions, _object_labels(doc), path)
        _replica_notices(cluster, inputs)
        if get(doc, "spec", "serveConfigV2") is None:
            inputs.services.append((cluster, no_serve_config()))
        else:
            inputs.services.append((cluster, _embedded_serve_config(doc)))


def _replica_notices(cluster: ClusterDoc, inputs: Inputs) -> None:
    """Say where KubeRay's replica count is not what the group seems to ask for (minReplicas > maxReplicas)."""
    workers = cluster.spec.get("workerGroupSpecs")
    for i, g in enumerate(workers if isinstance(workers, list) else []):
        low, high = get(g, "minReplicas"), get(g, "maxReplicas")
        if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool) and low > high:
            inputs.notices.append(
                Notice(
                    loc_of(cluster.spec, "workerGroupSpecs", i, "minReplicas"),
                    f"{cluster.kind}/{cluster.name} group {get(g, 'groupName')}: minReplicas {low} > maxReplicas "
                    f"{high}: KubeRay runs maxReplicas ({high} pod(s) x numOfHosts) whatever `replicas` says "
                    "(GetWorkerGroupDesiredReplicas, utils/util.go), and the plan does the same; "
                    "set minReplicas <= maxReplicas",
                )
            )


def _object_labels(doc: LDict) -> dict[str, str]:
    """metadata.labels as strings (KubeRay's batch schedulers read the queue labels there)."""
    raw = get(doc, "metadata", "labels", default={}) or {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _object_name(doc: LDict) -> str:
    """metadata.name, or metadata.generateName for objects created with `kubectl create`."""
    generated = get(doc, "metadata", "generateName")
    if get(doc, "metadata", "name") is None and isinstance(generated, str) and generated:
        return generated.rstrip("-") + "-<generated>"
    return str(require(doc, "metadata", "name", kind=str, refusal=ApiServerRefusal))


def _embedded_serve_config(doc: LDict) -> ServeDoc:
    text = require(
        doc, "spec", "serveConfigV2", kind=str, what="the Serve config as a YAML string", refusal=ApiServerRefusal
    )
    key_loc = loc_of(doc, "spec", "serveConfigV2")
    # A block scalar (`|`) starts on the line after its key.
    offset = key_loc.line if key_loc else 0
    docs = load_yaml_documents(text, key_loc.file if key_loc else "<RayService>", line_offset=offset)
    if len(docs) != 1 or not isinstance(docs[0], LDict):
        raise KubeRayRefusal(
            key_loc,
            "serveConfigV2 must hold one Serve config mapping",
            "write the Serve config (with `applications:`) as a `|` block under serveConfigV2",
        )
    schema.validate_serve_config(docs[0])
    return ServeDoc(docs[0], docs[0].loc)


__all__ = ["ClusterDoc", "Inputs", "Notice", "ServeDoc", "Target", "get", "load_inputs", "load_roots", "plain"]


def take_inventory(doc: LDict, inputs: Inputs, only: str | None) -> bool:
    """Keep a DRA object or skip a provisioner's object (with a notice); False for anything else.

    `only="Node"` is a node-pool file: it may also hold ResourceSlices and DeviceClasses.
    """
    kind, api = doc.get("kind"), doc.get("apiVersion")
    if not isinstance(kind, str):
        return False  # not an inventory object: the caller refuses a kind that is not a string
    group = api.split("/")[0] if isinstance(api, str) else ""
    if (group, kind) in PROVISIONER_KINDS:
        name = get(doc, "metadata", "name", default="?")
        inputs.notices.append(
            Notice(
                doc.loc,
                f"{INVENTORY_NOTICE}{kind}/{name} ({api}): it describes nodes a provisioner may create, not nodes; "
                "the pool is the Node objects (`kubectl get nodes -o yaml` once they exist)",
            )
        )
        return True
    if kind not in DRA_INVENTORY_KINDS + DRA_WORKLOAD_KINDS or group != "resource.k8s.io":
        return False
    if only is not None and only != "Node":
        return False
    if only == "Node" and kind in DRA_WORKLOAD_KINDS:
        return False
    if api != DRA_API:
        raise InputError(
            loc_of(doc, "apiVersion"),
            f"{kind} {api} is not modelled: gpuconf reads {DRA_API} (Kubernetes >= 1.34)",
            f"print it as {DRA_API}: `kubectl get {kind.lower()}s.v1.resource.k8s.io -o yaml`",
        )
    schema.validate_k8s_object(doc, kind)
    if kind == "ResourceSlice":
        for i, device in enumerate(get(doc, "spec", "devices", default=[]) or []):
            for key, raw in (device.get("capacity") or {}).items():
                value = raw.get("value") if isinstance(raw, dict) else raw
                check_quantity(doc, ("spec", "devices", i, "capacity", key), value, f"device {device.get('name')}")
        inputs.resource_slices.append(doc)
    elif kind == "DeviceClass":
        inputs.device_classes.append(doc)
    else:
        inputs.claim_templates.append(doc)
    return True
