"""YAML loading that remembers the file and line of every mapping and key."""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from gpuconf.errors import InputError, Loc, YamlRefusal
from gpuconf.inputs.limits import MAX_DEPTH, MAX_EXPANDED_NODES, MAX_FILE_BYTES


class LDict(dict):
    """A mapping from YAML that knows where it and each of its keys stand.

    `readings` (when set) notes, per key, a plain scalar value that the other YAML reading
    (kubectl's or YAML 1.1's, see KUBECTL and YAML11) takes differently.
    """

    loc: Loc
    key_locs: dict[Any, Loc]
    readings: dict[Any, str]


class LList(list):
    """A sequence from YAML that knows where it and each item stand."""

    loc: Loc
    item_locs: list[Loc]
    readings: dict[Any, str]


# The two ways a plain scalar is read. KUBECTL: sigs.k8s.io/yaml, as kubectl and KubeRay read
# manifests and serveConfigV2 (go.yaml.in/yaml/v2 resolve.go under sigs.k8s.io/yaml v1.6.0, then
# JSON): y/yes/on/n/no/off are booleans, no sexagesimals (`1:00` is a string), timestamps stay
# strings, Go's ParseInt base-0 integers (0x, 0o, 0b, leading-0 octal, `_` ignored), `1e3` is a
# number, and a float with an integral value reaches the server as a JSON integer. YAML11:
# PyYAML's YAML 1.1, as `serve deploy`/`serve run` read a Serve config file.
KUBECTL = "kubectl"
YAML11 = "yaml1.1"
_GONUM_TAG = "tag:gpuconf,2026:go-number"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_GO_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)\Z")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")


def go_number(text: str) -> int | float | str:
    """A plain scalar that starts like a number, as go-yaml v2 resolves it and JSON carries it.

    go.yaml.in/yaml/v2 resolve.go: strip `_`, strconv.ParseInt(s, 0, 64), then ParseUint, then a
    YAML-style float; a leading `.` goes to ParseFloat unchanged. sigs.k8s.io/yaml then writes
    JSON, where an integral float (`1.0`, `1e3`) is an integer below 1e21.
    """
    if text.startswith("."):
        # Observed with sigs.k8s.io/yaml v1.6.0: `.5_0` is 0.5 too (Go's ParseFloat).
        digits_only = text.replace("_", "")
        between_digits = not re.search(r"(?<![0-9])_|_(?![0-9])", text)
        value: int | float | str = float(digits_only) if between_digits and _GO_FLOAT.match(digits_only) else text
    else:
        plain_ = text.replace("_", "")
        value = text
        if _GO_INT.match(plain_):
            digits = plain_.lstrip("+-")
            leading_zero_octal = len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()
            number = int(digits, 8) if leading_zero_octal else int(digits, 0)
            number = -number if plain_.startswith("-") else number
            unsigned_ok = not plain_.startswith(("+", "-")) and number < 2**64  # ParseUint takes no sign
            if -(2**63) <= number < 2**63 or unsigned_ok:
                return number
        if _GO_FLOAT.match(plain_):
            value = float(plain_)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        # Go's JSON prints the shortest decimal that reads back as the float: 2^64 is 18446744073709552000.
        return int(Decimal(repr(value)))
    return value


class _GoResolver(yaml.resolver.BaseResolver):
    """Implicit tags as go-yaml v2 gives them (see KUBECTL)."""


_GoResolver.add_implicit_resolver(
    _BOOL_TAG,
    re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"),
)
_GoResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+."),
)
_GoResolver.add_implicit_resolver(_GONUM_TAG, re.compile(r"^[-+0-9.][-+0-9a-zA-Z_.]*$"), list("-+0123456789."))
_GoResolver.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_GoResolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


class _GoResolverMixin:
    """Put before a loader base: its resolve() gives go-yaml v2's implicit tags."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode:
            return _go_scalar_tag(value, implicit)
        return _GO_RESOLVER.resolve(kind, value, implicit)


@functools.lru_cache(maxsize=8192)  # a scalar's tag depends on its text alone, and manifests repeat theirs
def _go_scalar_tag(value: str, implicit: tuple[bool, bool]) -> str:
    return str(_GO_RESOLVER.resolve(yaml.ScalarNode, value, implicit))


_YAML11_RESOLVER = yaml.resolver.Resolver()
_GO_RESOLVER = _GoResolver()


def _reading_of(text: str, reading: str) -> Any:
    """The value of a plain scalar in one reading (for the note on a difference)."""
    if reading == KUBECTL:
        tag = _GO_RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
        if tag == _GONUM_TAG:
            return go_number(text)
        if tag == _BOOL_TAG:
            return text in _GO_TRUE
    else:
        tag = _YAML11_RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == "tag:yaml.org,2002:str":
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _shown(value: Any) -> str:
    kind = {bool: "the boolean", int: "the integer", float: "the number", str: "the string"}.get(type(value), "")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{kind} {'true' if value else 'false'}"
    if type(value).__name__ in ("date", "datetime"):
        return f"the timestamp {value}"
    return f"{kind} {value!r}" if isinstance(value, str) else f"{kind} {value}"


@functools.lru_cache(maxsize=4096)  # the same few scalars recur in every manifest (`1`, `4Gi`, `0.5`)
def reading_difference(text: str, reading: str) -> str | None:
    """What the other reading makes of a plain scalar when it differs from this one's, else None."""
    if not text or text[0] not in "-+.0123456789yYnNoO~":
        return None
    mine = _reading_of(text, reading)
    other = _reading_of(text, YAML11 if reading == KUBECTL else KUBECTL)
    if type(mine) is type(other) and mine == other:
        return None
    if isinstance(mine, float) and isinstance(other, float) and mine != mine and other != other:
        return None  # nan
    who = "kubectl (sigs.k8s.io/yaml)" if reading == KUBECTL else "YAML 1.1 (PyYAML, Ray's `serve` CLI)"
    whom = "YAML 1.1 (PyYAML, Ray's `serve` CLI)" if reading == KUBECTL else "kubectl (sigs.k8s.io/yaml)"
    return f"`{text}` is {_shown(mine)} to {who}, {_shown(other)} to {whom}"


if getattr(yaml, "__with_libyaml__", False):
    from yaml._yaml import CParser

    class _FastLoader(yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml's parser (C, about 6x faster) under pyyaml's composer, which is hooked for the limits."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)

    class _CComposer(CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml's parser and composer (C, several times faster again): only for a stream whose
        nesting is bounded (see _C_NESTING_BOUND), as libyaml composes by C recursion."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    _BASE: type = _FastLoader
    _C_BASE: type | None = _CComposer
else:
    _BASE = yaml.SafeLoader
    _C_BASE = None

# Streams whose nesting may be deeper than this are composed in Python (libyaml would recurse in C).
_C_NESTING_BOUND = 1500


def _nesting_bound(text: str) -> int:
    """An upper bound on how deep a stream can nest: each collection starts at a line's first key,
    a `-`, a `?`, a `[` or a `{`, so a stream holds no more collections than those."""
    return sum(text.count(c) for c in "\n-?[{")


def _too_deep(loc: Loc) -> InputError:
    return InputError(
        loc, f"YAML nested deeper than {MAX_DEPTH} levels", "flatten the document (see docs/static-inputs.md, limits)"
    )


def _check_depth(root: yaml.Node, loc: Any) -> bool:
    """Refuse a document nested deeper than MAX_DEPTH, counted as pyyaml's composer counts (keys and
    aliases too); True when it holds an alias (a node reached twice)."""
    seen: set[int] = set()
    aliased = False

    def walk(node: yaml.Node, depth: int) -> None:
        nonlocal aliased
        if depth > MAX_DEPTH:
            raise _too_deep(loc(node))
        if id(node) in seen:
            aliased = True
            return
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                walk(child, depth + 1)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(key, depth + 1)
                walk(value, depth + 1)

    walk(root, 1)
    return aliased


def _make_loader(file: str, line_offset: int, reading: str = KUBECTL, c_compose: bool = False) -> type:
    def _loc(node: yaml.Node) -> Loc:
        return Loc(file, node.start_mark.line + 1 + line_offset)

    base = _C_BASE if c_compose and _C_BASE is not None else _BASE
    bases: tuple[type, ...] = (base,)
    if reading == KUBECTL:
        # The resolver decides the tags: go-yaml v2's instead of YAML 1.1's (the MRO puts it first).
        bases = (_GoResolverMixin, base)

    class _CLoader(*bases):  # type: ignore[misc]
        def get_node(self) -> Any:
            node = super().get_node()
            if node is not None and _check_depth(node, _loc):
                _check_expansion(node, _loc)
            return node

    class _Loader(*bases):  # type: ignore[misc]
        depth = 0
        aliased = True

        def compose_node(self, parent: Any, index: Any) -> Any:
            # pyyaml composes recursively: bound the depth before Python's stack is.
            self.depth += 1
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _too_deep(Loc(file, mark.line + 1 + line_offset))
            try:
                node = super().compose_node(parent, index)
                if self.depth == 1:
                    self.aliased = bool(self.anchors)  # read before compose_document clears them
                return node
            finally:
                self.depth -= 1

        def compose_document(self) -> Any:
            self.aliased = True
            node = super().compose_document()
            if self.aliased:  # without anchors there are no aliases: the written size is the size
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
                raise YamlRefusal(
                    _loc(key_node),
                    "a mapping key must be a plain value (string or number), "
                    f"found a {'sequence' if isinstance(key, list) else 'mapping'}",
                    "write the key as a string",
                )
            if key in out:
                raise YamlRefusal(_loc(key_node), f"duplicate key {key!r}", "remove one of the two entries")
            out[key] = loader.construct_object(value_node, deep=True)
            out.key_locs[key] = _loc(key_node)
            _note_reading(out, key, value_node)
        return out

    def construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LList:
        out = LList(loader.construct_object(child, deep=True) for child in node.value)
        out.loc = _loc(node)
        out.item_locs = [_loc(child) for child in node.value]
        for i, child in enumerate(node.value):
            _note_reading(out, i, child)
        return out

    def _note_reading(out: LDict | LList, key: Any, node: yaml.Node) -> None:
        if isinstance(node, yaml.ScalarNode) and not node.style:  # plain: None (pyyaml) or "" (libyaml)
            note = reading_difference(node.value, reading)
            if note:
                if not hasattr(out, "readings"):
                    out.readings = {}
                out.readings[key] = note

    loader: Any = _CLoader if base is _C_BASE else _Loader
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    if reading == KUBECTL:
        loader.add_constructor(_GONUM_TAG, lambda _loader, node: go_number(node.value))
        loader.add_constructor(_BOOL_TAG, lambda _loader, node: node.value in _GO_TRUE)
        # `<<` as a value is the string "<<" to go-yaml; as a key it still merges (flatten_mapping).
        loader.add_constructor("tag:yaml.org,2002:merge", lambda _loader, node: node.value)
    return loader


def kubectl_loader(file: str) -> type:
    """A loader class that reads YAML as kubectl does (KUBECTL), with the same limits and locations."""
    return _make_loader(file, 0, KUBECTL)


_OPENED_AT_START = ("while scanning a quoted scalar", "while parsing a flow sequence", "while parsing a flow mapping")


def load_yaml_documents(text: str, file: str, line_offset: int = 0, reading: str = KUBECTL) -> list[Any]:
    """Parse every document of a YAML stream (as kubectl reads it, or YAML 1.1); a syntax error becomes an InputError."""
    reject_template(text, file, line_offset)
    try:
        docs = _load_all(text, file, line_offset, reading)
    except RecursionError:
        raise YamlRefusal(
            Loc(file, 1 + line_offset),
            "YAML nested too deeply to read",
            "flatten the document (see docs/static-inputs.md, limits)",
        ) from None
    except (ValueError, OverflowError) as exc:
        raise YamlRefusal(
            Loc(file, 1 + line_offset), f"YAML value cannot be read: {exc}", "quote the value or correct it"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context in _OPENED_AT_START and exc.context_mark is not None:
            mark = exc.context_mark  # an unclosed quote or bracket: where it opened, not the end of the file
        line = (mark.line + 1 + line_offset) if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlRefusal(
            Loc(file, line), f"YAML syntax: {problem}", "fix the indentation or quoting on this line"
        ) from None
    except yaml.YAMLError as exc:
        raise YamlRefusal(Loc(file, 1 + line_offset), f"YAML: {exc}") from None
    return [d for d in docs if d is not None]


def _load_all(text: str, file: str, line_offset: int, reading: str) -> list[Any]:
    if _c_composable(text):
        try:
            return list(yaml.load_all(text, Loader=_make_loader(file, line_offset, reading, c_compose=True)))
        except yaml.YAMLError:
            pass  # read again by pyyaml's composer, whose message names what is wrong (the alias)
    return list(yaml.load_all(text, Loader=_make_loader(file, line_offset, reading)))


def _c_composable(text: str) -> bool:
    """Whether libyaml may compose the stream: shallow enough for its C recursion, and free of syntax
    errors (so that the first error met is the one pyyaml's composer would meet first)."""
    if _C_BASE is None or _nesting_bound(text) > _C_NESTING_BOUND:
        return False
    try:
        CParser(text).raw_parse()
    except yaml.YAMLError:
        return False
    return True


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


def reject_template(text: str, file: str, line_offset: int = 0) -> None:
    """A Helm/Go template is exit 2 at its first action, with how to render it."""
    if "{{" not in text:
        return
    for no, line in enumerate(text.splitlines(), 1):
        if _TEMPLATE.search(line) and not line.lstrip().startswith("#"):
            raise YamlRefusal(
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


def load_file(path: Path, reading: str = KUBECTL) -> list[Any]:
    """Read and parse one YAML file (as kubectl reads it, unless told YAML11)."""
    return load_yaml_documents(read_text(path), display_path(path), reading=reading)


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


def require(
    obj: Any,
    *path: Any,
    kind: type | tuple[type, ...] = object,
    what: str = "",
    refusal: type[InputError] = InputError,
) -> Any:
    """Like `get`, but a missing or mistyped field is an InputError (of class `refusal`: who refuses it)
    naming its line."""
    value = get(obj, *path)
    dotted = ".".join(str(p) for p in path)
    if value is None:
        raise refusal(
            loc_of(obj, *path),
            f"missing field `{dotted}`{(' (' + what + ')') if what else ''}",
            f"add `{dotted}` to this object",
        )
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        shown = {"LDict": "mapping", "LList": "list"}.get(type(value).__name__, type(value).__name__)
        raise refusal(
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
