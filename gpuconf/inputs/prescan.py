"""Documents of kinds that gpuconf does not model, found without composing them.

Composing YAML into located mappings (gpuconf.inputs.loader) costs tens of microseconds per value
in pure Python. A stream of thousands of ConfigMaps or Secrets would spend seconds there only to
be listed as "not modelled". So when libyaml is present the stream is first parsed in C
(`CParser.raw_parse`, which checks the YAML syntax of every document, skipped ones included),
then split at its `---` lines, and a document whose top-level `kind:` and `apiVersion:` lines name
a kind the caller does not need stands as a stub: its kind, apiVersion and metadata.name, located
at its first line. Anything this text scan cannot read for certain (flow or quoted values,
anchors, directives, a `...` line, a name it cannot find) is composed as before, and a stream with
a syntax error anywhere is read whole by the loader, which reports the error at its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from gpuconf.errors import Loc
from gpuconf.inputs.loader import KUBECTL, LDict, load_yaml_documents, reject_template

# kind, apiVersion -> whether the document must be composed (read as a located mapping).
Needed = Callable[[str, str], bool]

# A document start at the start of a line; a bare one (nothing but a comment after it) starts a
# document the scan may read.
_DOC_START = re.compile(r"^---(?=[ \t\r\n]|\Z)", re.M)
_BARE_MARKER = re.compile(r"---[ \t]*(?:#[^\n]*)?\r?\n")
_FIRST_CONTENT = re.compile(r"^(?![ \t]*(?:#[^\n]*)?\r?$)", re.M)
_TOP_KEY = re.compile(r"^(kind|apiVersion):([^\n]*)", re.M)
_PLAIN_VALUE = re.compile(r"[ \t]+([A-Za-z][-A-Za-z0-9./]*)[ \t]*(?:#[^\n]*)?\r?\Z")
_METADATA = re.compile(r"^metadata:[ \t]*(?:#[^\n]*)?\r?\n((?:(?:[ \t][^\n]*|[ \t]*(?:#[^\n]*)?\r?)\n?)*)", re.M)
_NAME = re.compile(r"^([ \t]+)name:[ \t]+([a-z][-a-z0-9.]*)[ \t]*(?:#[^\n]*)?\r?$", re.M)
_NAME_KEY = re.compile(r"^([ \t]+)name:", re.M)
_QUOTED_LINE = re.compile(r"^[^\n]*[\"'][^\n]*$", re.M)
# Plain scalars that kubectl's reading makes booleans or null, not strings (loader.KUBECTL).
_NOT_STRINGS = {"y", "yes", "n", "no", "on", "off", "true", "false", "null"}


def load_documents(
    text: str, file: str, needed: Needed | None, line_offset: int = 0, reading: str = KUBECTL
) -> list[Any]:
    """Every document of the stream, as loader.load_yaml_documents reads them, with unneeded kinds as stubs."""
    if needed is None or not getattr(yaml, "__with_libyaml__", False) or not _plain_lines(text):
        return load_yaml_documents(text, file, line_offset, reading)
    from yaml._yaml import CParser

    reject_template(text, file, line_offset)
    try:
        CParser(text).raw_parse()
    except yaml.YAMLError:
        return load_yaml_documents(text, file, line_offset, reading)  # the loader says where
    starts = [m.start() for m in _DOC_START.finditer(text) if m.start() > 0]
    out: list[Any] = []
    composed_from, composed_line = 0, 0  # where the run of documents still to compose starts
    line = 0
    for begin, end in zip([0, *starts], [*starts, len(text)], strict=True):
        chunk = text[begin:end]
        stub = _stub(chunk, file, line_offset + line, needed)
        if stub is not None:
            if composed_from < begin:
                out += load_yaml_documents(text[composed_from:begin], file, line_offset + composed_line, reading)
            out.append(stub)
            composed_from, composed_line = end, line + chunk.count("\n")
        line += chunk.count("\n")
    if composed_from < len(text):
        out += load_yaml_documents(text[composed_from:], file, line_offset + composed_line, reading)
    return out


def _plain_lines(text: str) -> bool:
    """No directive, and no line break but `\\n` and `\\r\\n` (the scan counts lines as YAML does)."""
    if text.startswith("%") or "\n%" in text or any(c in text for c in "\x85\u2028\u2029"):
        return False
    return "\r" not in text or text.count("\r") == text.count("\r\n")


def _stub(chunk: str, file: str, offset: int, needed: Needed) -> LDict | None:
    """The document as kind, apiVersion and metadata.name, when it is certainly one not needed; else None.

    `offset`: the number of lines before the chunk.
    """
    if chunk.startswith("---"):
        marker = _BARE_MARKER.match(chunk)
        if marker is None:
            return None  # content on the `---` line
        body, offset = chunk[marker.end() :], offset + 1
    else:
        body = chunk
    if _unsure(body):
        return None
    start = _FIRST_CONTENT.search(body)
    if start is None or start.start() >= len(body) or body[start.start()] in " \t":
        return None  # an empty document, or an indented top level
    found: dict[str, tuple[str, int]] = {}
    for m in _TOP_KEY.finditer(body):
        value = _PLAIN_VALUE.match(m.group(2))
        if value is None or m.group(1) in found or value.group(1).lower() in _NOT_STRINGS:
            return None  # a value the scan does not read for certain, or a key given twice
        found[m.group(1)] = (value.group(1), offset + body.count("\n", 0, m.start()) + 1)
    if len(found) != 2:
        return None
    (kind, kind_line), (api, api_line) = found["kind"], found["apiVersion"]
    if needed(kind, api):
        return None
    name = _metadata_name(body)
    if name is None:
        return None
    doc = _located(LDict(), Loc(file, offset + body.count("\n", 0, start.start()) + 1))
    doc["apiVersion"], doc.key_locs["apiVersion"] = api, Loc(file, api_line)
    doc["kind"], doc.key_locs["kind"] = kind, Loc(file, kind_line)
    name_loc = Loc(file, offset + name[1] + 1)
    meta = _located(LDict(), name_loc)
    meta["name"], meta.key_locs["name"] = name[0], name_loc
    doc["metadata"], doc.key_locs["metadata"] = meta, Loc(file, offset + name[2] + 1)
    return doc


def _unsure(body: str) -> bool:
    """Text the scan cannot take at face value: anchors or aliases, a `...` end, or a line that
    leaves a quote open (a quoted scalar may run over lines that look like keys)."""
    if "&" in body or "*" in body or "\n..." in body or body.startswith("..."):
        return True
    return any(line.count('"') % 2 or line.count("'") % 2 for line in _QUOTED_LINE.findall(body))


def _metadata_name(body: str) -> tuple[str, int, int] | None:
    """metadata.name, its line and the `metadata:` line (0-based in body), when it is a plain
    DNS-style string on its own line directly under a block `metadata:`."""
    meta = _METADATA.search(body)
    if meta is None:
        return None
    block = meta.group(1)
    first = _FIRST_CONTENT.search(block)
    if first is None or first.start() >= len(block):
        return None
    indent = len(block[first.start() :]) - len(block[first.start() :].lstrip(" \t"))
    keys = [k for k in _NAME_KEY.finditer(block) if len(k.group(1)) == indent]
    m = _NAME.match(block, keys[0].start()) if len(keys) == 1 else None  # two: a duplicate key, the loader's to refuse
    if m is None or m.group(2) in _NOT_STRINGS:
        return None
    meta_line = body.count("\n", 0, meta.start())
    return m.group(2), meta_line + 1 + block.count("\n", 0, m.start()), meta_line


def _located(d: LDict, loc: Loc) -> LDict:
    d.loc = loc
    d.key_locs = {}
    return d
