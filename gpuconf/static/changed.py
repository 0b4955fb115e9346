"""`gpuconf check --changed FILE...`: from the files a commit changes to the folders to check.

pre-commit passes the changed files, but gpuconf pairs a RayCluster with its Serve config, node
pool and expectations by folder: a changed Serve config alone is meaningless without them. So each
changed file becomes a folder:

* inside a Helm chart or Kustomize folder: that folder (it is checked rendered);
* under a manifest root (a folder, or an ancestor, with expectations.yaml): that root;
* else a YAML file that holds a Ray object or a Serve config: its own folder;
* else (a workflow, a values file of no chart, a deleted file): nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from gpuconf.inputs.loader import YAML_SUFFIXES
from gpuconf.inputs.manifests import manifest_root
from gpuconf.inputs.rendered import kind_of_folder

# A Ray object (`apiVersion: ray.io/...`) or a Serve config (`applications:` at the top level).
_MANIFEST = re.compile(r"^apiVersion:\s*['\"]?ray\.io/|^applications:|^kind:\s*(?:Node|Expectations)\b", re.M)


def _is_manifest(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return bool(_MANIFEST.search(fh.read(1 << 20)))
    except OSError:
        return False


def folder_for(path: Path) -> Path | None:
    """The folder to check for one changed file, or None when it is not a manifest."""
    if path.suffix not in (*YAML_SUFFIXES, ".tpl") and path.name not in ("Chart.yaml", "Kustomization"):
        return None
    if not path.exists():
        return None  # deleted: its folder is checked when another file there changes
    here = path.resolve().parent
    for folder in (here, *here.parents):
        if kind_of_folder(folder):
            return folder
    root = manifest_root(path)
    if root is not None:
        return root
    return here if path.suffix != ".tpl" and _is_manifest(path) else None


def folders_to_check(files: list[Path]) -> list[Path]:
    """The folders of the changed manifests, each once, none inside another (the outer one reads it)."""
    found = sorted({f for f in (folder_for(p) for p in files) if f is not None})
    kept = [f for f in found if not any(other in f.parents for other in found if not kind_of_folder(f))]
    cwd = Path.cwd().resolve()
    return [f.relative_to(cwd) if cwd in (f, *f.parents) else f for f in kept]
