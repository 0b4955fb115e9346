"""A kubeconfig file read as an input: a malformed one is exit 2 with file:line, never "unreachable"."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuconf.errors import InputError, Loc
from gpuconf.inputs.loader import LDict, LList, load_file, loc_of

FIX = "compare with `kubectl config view --raw` of a working kubeconfig"


@dataclass(frozen=True)
class KubeconfigTarget:
    """What a kubeconfig's current context points at."""

    path: str
    context: str
    server: str


def read_kubeconfig(path: str) -> KubeconfigTarget:
    """Validate the parts the client needs (current context -> cluster -> server); InputError with file:line."""
    file = Path(path)
    if not file.is_file():
        raise InputError(
            Loc(path, 1),
            "kubeconfig file not found" if not file.exists() else "kubeconfig is not a file",
            "pass an existing file with --kubeconfig or KUBECONFIG",
        )
    docs = load_file(file)
    if len(docs) != 1 or not isinstance(docs[0], LDict):
        raise InputError(Loc(path, 1), "a kubeconfig is one YAML mapping (kind: Config)", FIX)
    doc = docs[0]
    current = doc.get("current-context")
    if not isinstance(current, str) or not current:
        raise InputError(
            loc_of(doc, "current-context") or doc.loc,
            "no current-context",
            "set current-context to one of the contexts",
        )
    context = _named(doc, "contexts", current, "context", loc_of(doc, "current-context") or doc.loc)
    cluster_name = context.get("cluster") if isinstance(context, dict) else None
    if not isinstance(cluster_name, str):
        raise InputError(getattr(context, "loc", doc.loc), f"context {current!r} names no cluster", FIX)
    cluster = _named(doc, "clusters", cluster_name, "cluster", loc_of(context, "cluster") or doc.loc)
    server = cluster.get("server") if isinstance(cluster, dict) else None
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        where = (
            loc_of(cluster, "server")
            if isinstance(cluster, LDict) and "server" in cluster
            else getattr(cluster, "loc", doc.loc)
        )
        raise InputError(where, f"cluster {cluster_name!r} has no server URL (expected https://host:port)", FIX)
    return KubeconfigTarget(path, current, server)


def _named(doc: LDict, section: str, name: str, field: str, ref: Loc) -> Any:
    """The `field` of the entry called `name` in a kubeconfig list section; a dangling name fails at `ref`."""
    items = doc.get(section)
    if not isinstance(items, LList):
        raise InputError(loc_of(doc, section) or doc.loc, f"`{section}` must be a list", FIX)
    for item in items:
        if isinstance(item, LDict) and item.get("name") == name:
            body = item.get(field)
            if not isinstance(body, LDict):
                raise InputError(item.loc, f"{section} entry {name!r} has no `{field}` mapping", FIX)
            return body
    raise InputError(
        ref, f"no entry named {name!r} in `{section}`", f"add it, or point the reference at one of the {section}"
    )
