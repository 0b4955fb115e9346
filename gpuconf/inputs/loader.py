"""YAML loading that remembers the file and line of every mapping and key."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from gpuconf.errors import InputError, Loc
from gpuconf.inputs.limits import MAX_DEPTH, MAX_EXPANDED_NODES, MAX_FILE_BYTES


class LDict(dict):
    """A mapping from YAML that knows where it and each of its keys stand."""

    loc: Loc
    key_locs: dict[Any, Loc]


class LList(list):
    """A sequence from YAML that knows where it and each item stand."""

    loc: Loc
    item_locs: list[Loc]


if getattr(yaml, "__with_libyaml__", False):
    from yaml._yaml import CParser

    class _FastLoader(yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml's parser (C, about 6x faster) under pyyaml's composer, which is hooked for the limits."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)

    _BASE: type = _FastLoader
else:
    _BASE = yaml.SafeLoader


def _make_loader(file: str, line_offset: int) -> type:
    def _loc(node: yaml.Node) -> Loc:
        return Loc(file, node.start_mark.line + 1 + line_offset)

    class _Loader(_BASE):
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            # pyyaml composes recursively: bound the depth before Python's stack is.
            self.depth += 1
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise InputError(
                    Loc(file, mark.line + 1 + line_offset),
                    f"YAML nested deeper than {MAX_DEPTH} levels",
                    "flatten the document (see docs/static-inputs.md, limits)",
                )
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def compose_document(self) -> Any:
            node = super().compose_document()
            _check_expansion(node, _loc)
            return node

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LDict:
        loader.flatten_mapping(node)
        out = LDict()
        out.loc = _loc(node)
        out.key_locs = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict, set)):
                raise InputError(
                    _loc(key_node),
                    "a mapping key must be a plain value (string or number), "
                    f"found a {'sequence' if isinstance(key, list) else 'mapping'}",
                    "write the key as a string",
                )
            if key in out:
                raise InputError(_loc(key_node), f"duplicate key {key!r}", "remove one of the two entries")
            out[key] = loader.construct_object(value_node, deep=True)
            out.key_locs[key] = _loc(key_node)
        return out

    def construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LList:
        out = LList(loader.construct_object(child, deep=True) for child in node.value)
        out.loc = _loc(node)
        out.item_locs = [_loc(child) for child in node.value]
        return out

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    return _Loader


_OPENED_AT_START = ("while scanning a quoted scalar", "while parsing a flow sequence", "while parsing a flow mapping")


def load_yaml_documents(text: str, file: str, line_offset: int = 0) -> list[Any]:
    """Parse every document of a YAML stream; a syntax error becomes an InputError."""
    _reject_template(text, file, line_offset)
    try:
        docs = list(yaml.load_all(text, Loader=_make_loader(file, line_offset)))
    except RecursionError:
        raise InputError(
            Loc(file, 1 + line_offset),
            "YAML nested too deeply to read",
            "flatten the document (see docs/static-inputs.md, limits)",
        ) from None
    except (ValueError, OverflowError) as exc:
        raise InputError(
            Loc(file, 1 + line_offset), f"YAML value cannot be read: {exc}", "quote the value or correct it"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context in _OPENED_AT_START and exc.context_mark is not None:
            mark = exc.context_mark  # an unclosed quote or bracket: where it opened, not the end of the file
        line = (mark.line + 1 + line_offset) if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(
            Loc(file, line), f"YAML syntax: {problem}", "fix the indentation or quoting on this line"
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(Loc(file, 1 + line_offset), f"YAML: {exc}") from None
    return [d for d in docs if d is not None]


def _check_expansion(node: yaml.Node | None, loc: Any) -> None:
    """Refuse documents whose aliases expand past MAX_EXPANDED_NODES (an alias bomb)."""
    sizes: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        # Sizes are memoised per node, so a bomb costs its written size, not its expansion.
        if id(n) in sizes:
            return sizes[id(n)]
        sizes[id(n)] = 1  # a cycle counts once
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(c) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        sizes[id(n)] = total
        return total

    if node is not None and size(node) > MAX_EXPANDED_NODES:
        # Point at the innermost value that is past the limit on its own.
        while True:
            children = (
                node.value
                if isinstance(node, yaml.SequenceNode)
                else [v for _, v in node.value]
                if isinstance(node, yaml.MappingNode)
                else []
            )
            big = [c for c in children if sizes.get(id(c), 0) > MAX_EXPANDED_NODES]
            if not big:
                break
            node = big[0]
        raise InputError(
            loc(node),
            f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values",
            "write the values out instead of nesting aliases (see docs/static-inputs.md, limits)",
        )


# Helm/Go template actions: `{{ .Values.x }}`, `{{- include ... }}`, `{{ if ... }}`.
_TEMPLATE = re.compile(r"\{\{-?\s*(?:[.$]|end\b|if\b|range\b|with\b|include\b|template\b|toYaml\b|define\b|else\b|/\*)")


def _reject_template(text: str, file: str, line_offset: int) -> None:
    for no, line in enumerate(text.splitlines(), 1):
        if _TEMPLATE.search(line) and not line.lstrip().startswith("#"):
            raise InputError(
                Loc(file, no + line_offset),
                "this is a Helm/Go template (`{{ ... }}`), not a manifest",
                "render it first: `helm template RELEASE CHART -f values.yaml > rendered.yaml`, "
                "then check rendered.yaml",
            )


def read_text(path: Path) -> str:
    """The text of a regular UTF-8 file, or an InputError saying why it is not one."""
    shown = display_path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(Loc(shown, 1), f"cannot read file: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(
            Loc(shown, 1),
            "not a regular file (a device, FIFO or socket)",
            "pass a regular YAML file or a folder of YAML files",
        )
    if st.st_size > MAX_FILE_BYTES:
        raise InputError(
            Loc(shown, 1),
            f"file is {st.st_size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit",
            "split it into smaller files (see docs/static-inputs.md, limits)",
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(Loc(shown, 1), f"cannot read file: {exc.strerror}") from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 1 and (data[0] == 0 or data[1] == 0)):
        raise InputError(
            Loc(shown, 1),
            "file is UTF-16 or UTF-32, not UTF-8",
            f"convert it: `iconv -f UTF-16 -t UTF-8 {shown} > fixed.yaml`",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            Loc(shown, line),
            f"file is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            f"save the file as UTF-8, e.g. `iconv -f LATIN1 -t UTF-8 {shown} > fixed.yaml`",
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError(Loc(shown, line), "file holds a NUL byte (binary data?)", "pass a YAML text file")
    return text


def load_file(path: Path) -> list[Any]:
    """Read and parse one YAML file."""
    return load_yaml_documents(read_text(path), display_path(path))


def display_path(path: Path) -> str:
    """The path as the user would write it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def loc_of(obj: Any, *path: Any) -> Loc | None:
    """The location of the deepest key or item of `path` that exists under `obj`."""
    best: Loc | None = getattr(obj, "loc", None)
    cur = obj
    for step in path:
        if isinstance(cur, LDict) and step in cur:
            best, cur = cur.key_locs.get(step, best), cur[step]
        elif isinstance(cur, LList) and isinstance(step, int) and 0 <= step < len(cur):
            best, cur = cur.item_locs[step], cur[step]
        else:
            break
    return best


def get(obj: Any, *path: Any, default: Any = None) -> Any:
    """Nested lookup that tolerates missing keys and non-mapping values."""
    cur = obj
    for step in path:
        if (isinstance(cur, dict) and step in cur) or (
            isinstance(cur, list) and isinstance(step, int) and 0 <= step < len(cur)
        ):
            cur = cur[step]
        else:
            return default
    return cur


def require(obj: Any, *path: Any, kind: type | tuple[type, ...] = object, what: str = "") -> Any:
    """Like `get`, but a missing or mistyped field is an InputError naming its line."""
    value = get(obj, *path)
    dotted = ".".join(str(p) for p in path)
    if value is None:
        raise InputError(
            loc_of(obj, *path),
            f"missing field `{dotted}`{(' (' + what + ')') if what else ''}",
            f"add `{dotted}` to this object",
        )
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        shown = {"LDict": "mapping", "LList": "list"}.get(type(value).__name__, type(value).__name__)
        raise InputError(
            loc_of(obj, *path),
            f"`{dotted}` must be a {names}, got {shown}",
            f"write `{dotted}` as a {names.replace('dict', 'mapping')}",
        )
    return value


YAML_SUFFIXES = (".yaml", ".yml", ".json")


def yaml_files(path: Path, recursive: bool = False, skip: tuple[str, ...] = ()) -> Iterator[Path]:
    """The YAML files of a folder (sorted; subfolders too when recursive, except `skip`), or the path itself."""
    if not path.is_dir():
        yield path
        return
    for child in sorted(path.iterdir()):
        if child.is_dir():
            if recursive and child.name not in skip and not child.name.startswith("."):
                yield from yaml_files(child, recursive, skip)
        elif child.suffix in YAML_SUFFIXES and child.is_file():
            yield child


def plain(obj: Any) -> Any:
    """A deep copy as plain dicts and lists (for JSON and for APIs)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj
