"""Unit tests of gpuconf.inputs.loader: every mapping, key and item knows its file:line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpuconf.errors import InputError, Loc
from gpuconf.inputs.loader import LDict, LList, display_path, get, load_file, load_yaml_documents, loc_of, require

MULTI_DOC = """\
# a comment on line 1
apiVersion: v1
kind: Node
metadata:
  name: n1
---
# second document starts on line 7
kind: RayCluster
spec:
  workerGroupSpecs:
    - groupName: gpu
      replicas: 1
    - groupName: cpu
      template:
        spec:
          containers:
            - name: ray
              image: img
"""


@pytest.fixture
def docs() -> list[LDict]:
    """The two documents of MULTI_DOC."""
    return load_yaml_documents(MULTI_DOC, "m.yaml")


def test_multi_document_stream_yields_each_mapping(docs: list[LDict]) -> None:
    """Both documents come back as LDicts with plain values."""
    assert [d["kind"] for d in docs] == ["Node", "RayCluster"]
    assert all(isinstance(d, LDict) for d in docs)
    assert isinstance(docs[1]["spec"]["workerGroupSpecs"], LList)


def test_document_and_key_lines_count_from_the_file_start(docs: list[LDict]) -> None:
    """Lines are 1-based and keep counting across `---`."""
    assert docs[0].loc == Loc("m.yaml", 2)
    assert docs[0].key_locs["kind"] == Loc("m.yaml", 3)
    assert docs[0]["metadata"].key_locs["name"] == Loc("m.yaml", 5)
    assert docs[1].loc == Loc("m.yaml", 8)
    assert docs[1].key_locs["spec"] == Loc("m.yaml", 9)


def test_nested_item_lines(docs: list[LDict]) -> None:
    """Items of a sequence and keys inside them carry their own lines."""
    groups = docs[1]["spec"]["workerGroupSpecs"]
    assert groups.item_locs == [Loc("m.yaml", 11), Loc("m.yaml", 13)]
    assert groups[0].key_locs["replicas"] == Loc("m.yaml", 12)
    image = ("spec", "workerGroupSpecs", 1, "template", "spec", "containers", 0, "image")
    assert loc_of(docs[1], *image) == Loc("m.yaml", 18)


def test_line_offset_shifts_every_line() -> None:
    """An embedded YAML string (serveConfigV2) reports lines of the outer file."""
    [doc] = load_yaml_documents("a:\n  b: 1\n", "outer.yaml", line_offset=10)
    assert doc.loc == Loc("outer.yaml", 11)
    assert doc["a"].key_locs["b"] == Loc("outer.yaml", 12)


def test_empty_documents_are_dropped() -> None:
    """`---` with nothing after it is not a document."""
    assert load_yaml_documents("---\n---\na: 1\n---\n", "e.yaml") == [{"a": 1}]


def test_duplicate_key_is_an_input_error_at_the_second_key() -> None:
    """YAML allows duplicate keys silently; we refuse and name the line."""
    with pytest.raises(InputError) as exc:
        load_yaml_documents("a: 1\nb:\n  c: 1\n  c: 2\n", "d.yaml")
    assert exc.value.loc == Loc("d.yaml", 4)
    assert "duplicate key 'c'" in exc.value.message
    assert exc.value.render().startswith("d.yaml:4: error: duplicate key")


@pytest.mark.parametrize(
    "text, line",
    [
        ("a: 1\n b: 2\n", 2),  # a mapping value where none is allowed
        ("x: 1\ny: 'abc\n", 2),  # unterminated quote: reported where it opened
        ("a:\n  - b\n  c: d\n", 3),  # sequence then mapping at the same level
        ("ok: 1\nlist: [1, 2\nnext: 3\n", 2),  # unclosed flow sequence: where it opened
        ("\tx: 1\n", 1),  # a tab cannot start a token
    ],
)
def test_yaml_syntax_error_names_the_line(text: str, line: int) -> None:
    """A syntax error becomes an InputError at the line PyYAML points at (an unclosed one: where it opened)."""
    with pytest.raises(InputError) as exc:
        load_yaml_documents(text, "bad.yaml")
    assert exc.value.loc == Loc("bad.yaml", line)
    assert exc.value.message.startswith("YAML syntax:")
    assert exc.value.fix


def test_syntax_error_line_honours_the_offset() -> None:
    """Errors inside an embedded config are reported in the outer file's lines."""
    with pytest.raises(InputError) as exc:
        load_yaml_documents("a: 1\n b: 2\n", "outer.yaml", line_offset=20)
    assert exc.value.loc == Loc("outer.yaml", 22)


def test_loc_of_missing_paths_falls_back_to_deepest_existing(docs: list[LDict]) -> None:
    """A missing key or index points at the nearest ancestor that exists."""
    cluster = docs[1]
    assert loc_of(cluster, "spec", "headGroupSpec") == Loc("m.yaml", 9)
    assert loc_of(cluster, "spec", "workerGroupSpecs", 7) == Loc("m.yaml", 10)
    assert loc_of(cluster, "spec", "workerGroupSpecs", 0, "template") == Loc("m.yaml", 11)
    assert loc_of(cluster, "nope") == cluster.loc
    assert loc_of(cluster) == cluster.loc


def test_loc_of_plain_objects_is_none() -> None:
    """Objects that did not come from YAML have no location."""
    assert loc_of({"a": 1}, "a") is None
    assert loc_of(None, "a") is None


def test_get_and_require(docs: list[LDict]) -> None:
    """`get` tolerates gaps; `require` names the missing field and its nearest line."""
    cluster = docs[1]
    assert get(cluster, "spec", "workerGroupSpecs", 1, "groupName") == "cpu"
    assert get(cluster, "spec", "missing", default="d") == "d"
    assert get(cluster, "kind", "x") is None
    with pytest.raises(InputError) as exc:
        require(cluster, "spec", "headGroupSpec", kind=dict)
    assert exc.value.loc == Loc("m.yaml", 9)
    assert "missing field `spec.headGroupSpec`" in exc.value.message
    with pytest.raises(InputError) as exc:
        require(cluster, "spec", "workerGroupSpecs", 0, "replicas", kind=str)
    assert exc.value.loc == Loc("m.yaml", 12)
    assert "must be a str, got int" in exc.value.message


def test_load_file_uses_the_display_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Locations name the file relative to the working folder."""
    (tmp_path / "sub").mkdir()
    f = tmp_path / "sub" / "x.yaml"
    f.write_text("a: 1\nb: 2\n")
    monkeypatch.chdir(tmp_path)
    [doc] = load_file(Path("sub/x.yaml"))
    assert doc.key_locs["b"] == Loc(os.path.join("sub", "x.yaml"), 2)


def test_load_file_missing_is_an_input_error(tmp_path: Path) -> None:
    """An unreadable file is bad input, not a traceback."""
    with pytest.raises(InputError) as exc:
        load_file(tmp_path / "absent.yaml")
    assert "cannot read file" in exc.value.message
    assert exc.value.loc is not None and exc.value.loc.line == 1


def test_display_path_inside_and_outside_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside the working folder: relative; outside it: unchanged."""
    inside = tmp_path / "work"
    inside.mkdir()
    (inside / "m.yaml").write_text("")
    monkeypatch.chdir(inside)
    assert display_path(inside / "m.yaml") == "m.yaml"
    assert display_path(Path("m.yaml")) == "m.yaml"
    outside = tmp_path / "elsewhere.yaml"
    assert display_path(outside) == str(outside)
