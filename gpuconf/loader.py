"""YAML loading that remembers the file and line of every mapping and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import yaml

from gpuconf.errors import InputError, Loc


class LDict(dict):
    """A mapping from YAML that knows where it and each of its keys stand."""

    loc: Loc
    key_locs: dict[Any, Loc]


class LList(list):
    """A sequence from YAML that knows where it and each item stand."""

    loc: Loc
    item_locs: list[Loc]


def _make_loader(file: str, line_offset: int) -> type[yaml.SafeLoader]:
    class _Loader(yaml.SafeLoader):
        pass

    def _loc(node: yaml.Node) -> Loc:
        return Loc(file, node.start_mark.line + 1 + line_offset)

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LDict:
        loader.flatten_mapping(node)
        out = LDict()
        out.loc = _loc(node)
        out.key_locs = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
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


def load_yaml_documents(text: str, file: str, line_offset: int = 0) -> list[Any]:
    """Parse every document of a YAML stream; a syntax error becomes an InputError."""
    try:
        docs = list(yaml.load_all(text, Loader=_make_loader(file, line_offset)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1 + line_offset) if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(Loc(file, line), f"YAML syntax: {problem}", "fix the indentation or quoting on this line") from None
    except yaml.YAMLError as exc:
        raise InputError(Loc(file, 1 + line_offset), f"YAML: {exc}") from None
    return [d for d in docs if d is not None]


def load_file(path: Path) -> list[Any]:
    """Read and parse one YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(Loc(str(path), 1), f"cannot read file: {exc.strerror}") from None
    return load_yaml_documents(text, display_path(path))


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
        if isinstance(cur, dict) and step in cur:
            cur = cur[step]
        elif isinstance(cur, list) and isinstance(step, int) and 0 <= step < len(cur):
            cur = cur[step]
        else:
            return default
    return cur


def require(obj: Any, *path: Any, kind: type | tuple[type, ...] = object, what: str = "") -> Any:
    """Like `get`, but a missing or mistyped field is an InputError naming its line."""
    value = get(obj, *path)
    dotted = ".".join(str(p) for p in path)
    if value is None:
        raise InputError(loc_of(obj, *path), f"missing field `{dotted}`{(' (' + what + ')') if what else ''}",
                         f"add `{dotted}` to this object")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputError(loc_of(obj, *path), f"`{dotted}` must be a {names}, got {type(value).__name__}")
    return value


def yaml_files(path: Path) -> Iterator[Path]:
    """The YAML files of a folder (sorted, top level only), or the file itself."""
    if path.is_file():
        yield path
        return
    for child in sorted(path.iterdir()):
        if child.is_file() and child.suffix in (".yaml", ".yml"):
            yield child


def plain(obj: Any) -> Any:
    """A deep copy as plain dicts and lists (for JSON and for APIs)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj
