"""Edit YAML files in place with comments, order and quoting kept (``gpuconf check --fix``).

Each file is parsed once into ruamel.yaml's round-trip tree. A RayService's serveConfigV2 is a
YAML string inside YAML: it is parsed as a document of its own and written back as a `|` block
(spliced into the text where only such blocks changed, so the outer document stays byte for
byte). An edit starts from a mapping named by where it starts (a document, an item of a
`kind: List`, or a serveConfigV2 block) and walks a key path from there.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from gpuconf.errors import Loc


class NotInFile(Exception):
    """The file holds no mapping where the edit should start; the message says what was looked for."""


@dataclass
class _Doc:
    """One YAML document (or a serveConfigV2 string inside one) and the line its text starts at."""

    root: Any
    first_line: int  # 0-based file line of the document's line 0
    parent: tuple[Any, str] | None = None  # (mapping, key) holding the string this document came from


@dataclass
class Workspace:
    """The files an edit run reads, parsed once and edited in place."""

    texts: dict[str, str] = field(default_factory=dict)
    docs: dict[str, list[_Doc]] = field(default_factory=dict)
    yaml: YAML = field(default_factory=lambda: _yaml())

    def _load(self, file: str) -> list[_Doc]:
        if file not in self.docs:
            text = Path(file).read_text(encoding="utf-8")
            self.texts[file] = text
            docs = [_Doc(d, 0) for d in self.yaml.load_all(text) if d is not None]
            for d in list(docs):
                docs.extend(_embedded(self.yaml, d.root))
            self.docs[file] = docs
        return self.docs[file]

    def mapping_at(self, start: Loc | None) -> CommentedMap:
        """The mapping that starts at `start`: a document, an item of a `kind: List`, or a serveConfigV2 block."""
        if start is None:
            raise NotInFile("the finding names no file:line")
        for doc in self._load(start.file):
            for m in _objects(doc.root):
                if doc.first_line + m.lc.line + 1 == start.line:
                    return m
        raise NotInFile(f"no YAML object starts at {start}")

    def rendered(self) -> dict[str, str]:
        """The new text of every file read (unchanged files come back as they were)."""
        out: dict[str, str] = {}
        for file, docs in self.docs.items():
            original = _dump(self.yaml, list(self.yaml.load_all(self.texts[file])))
            tops = [d.root for d in docs if d.parent is None]
            if _dump(self.yaml, tops) == original:
                # Only serveConfigV2 strings changed (or nothing): splice them into the text, so
                # the outer document stays byte for byte, whatever its indentation.
                out[file] = _splice(self.texts[file], [(d, _dump(self.yaml, [d.root])) for d in docs if d.parent])
                continue
            for d in docs:
                if d.parent is not None:
                    mapping, key = d.parent
                    mapping[key] = LiteralScalarString(_dump(self.yaml, [d.root]))
            out[file] = _dump(self.yaml, tops)
        return out


def at(root: Any, path: list[Any] | tuple[Any, ...]) -> Any:
    """The node at `path` under `root`."""
    for step in path:
        root = root[step]
    return root


def sub(mapping: CommentedMap, key: str) -> CommentedMap:
    """mapping[key] as a mapping, created when absent."""
    if not isinstance(mapping.get(key), CommentedMap):
        mapping[key] = CommentedMap()
    return mapping[key]


def _objects(root: Any) -> list[CommentedMap]:
    """The document's mapping and, in a `kind: List`, each item's."""
    if not isinstance(root, CommentedMap):
        return []
    items = root.get("items")
    listed = [i for i in items if isinstance(i, CommentedMap)] if isinstance(items, CommentedSeq) else []
    return [root, *listed]


def _splice(text: str, inner: list[tuple[_Doc, str]]) -> str:
    """Replace each changed serveConfigV2 block's lines with its new text, indented as before."""
    lines = text.splitlines(keepends=True)
    for d, new in sorted(inner, key=lambda x: -x[0].first_line):
        old = str(d.parent[0][d.parent[1]]) if d.parent else new
        if new == old:
            continue
        count = len(old.splitlines())
        first = lines[d.first_line]
        pad = first[: len(first) - len(first.lstrip(" "))]
        lines[d.first_line : d.first_line + count] = [pad + ln if ln.strip() else ln for ln in new.splitlines(True)]
    return "".join(lines)


def _yaml() -> YAML:
    y = YAML()  # round-trip: comments, order and quoting kept
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _dump(y: YAML, docs: list[Any]) -> str:
    buf = io.StringIO()
    y.dump_all(docs, buf)
    return buf.getvalue()


def _embedded(y: YAML, root: Any) -> list[_Doc]:
    """serveConfigV2 strings as documents; their lines count from the line after the key."""
    spec = root.get("spec") if isinstance(root, CommentedMap) else None
    if not isinstance(spec, CommentedMap) or not isinstance(spec.get("serveConfigV2"), str):
        return []
    inner = y.load(spec["serveConfigV2"])
    return [_Doc(inner, spec.lc.key("serveConfigV2")[0] + 1, (spec, "serveConfigV2"))] if inner is not None else []
