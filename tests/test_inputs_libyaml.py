"""libyaml's composer (C) reads a stream exactly as pyyaml's (Python) does, limits included.

The loader composes a shallow, well-formed stream in C (gpuconf.inputs.loader._CComposer) and any
other in Python. Both must give the same values, the same lines and the same refusals.
"""

from __future__ import annotations

from typing import Any

import pytest

from gpuconf.errors import InputError
from gpuconf.inputs import loader
from gpuconf.inputs.limits import MAX_DEPTH
from gpuconf.inputs.loader import LDict, LList
from tests.test_inputs_catalogue import CLUSTER, SERVE, _bomb

pytestmark = pytest.mark.skipif(loader._C_BASE is None, reason="pyyaml built without libyaml")


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """(what the C composer gives, what the Python composer gives): documents or the InputError."""
    out: list[Any] = []
    for c_base in (loader._C_BASE, None):
        monkeypatch.setattr(loader, "_C_BASE", c_base)
        try:
            docs = loader.load_yaml_documents(text, "f.yaml")
            out.append([(loader.plain(d), _locs(d)) for d in docs])
        except InputError as exc:
            out.append((exc.loc, exc.message))
    return out[0], out[1]


def _locs(obj: Any) -> Any:
    """Every location and noted reading under obj, in order."""
    if isinstance(obj, LDict):
        return [obj.loc, obj.key_locs, getattr(obj, "readings", {}), [_locs(v) for v in obj.values()]]
    if isinstance(obj, LList):
        return [obj.loc, obj.item_locs, getattr(obj, "readings", {}), [_locs(v) for v in obj]]
    return None


@pytest.mark.parametrize(
    "text",
    [
        CLUSTER + "---\n" + SERVE,
        "a: &x {b: [1, 2]}\nc: *x\nd: <<\ne:\n  <<: *x\n  f: 0x1F\n  g: 1:00\n  h: yes\n  i: 2024-01-01\n",
        "a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n",  # at the limit
        "a: " + "[" * (MAX_DEPTH + 3) + "]" * (MAX_DEPTH + 3) + "\n",  # past it
        "".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 2)) + " " * 70 + "v: 1\n",
        _bomb(9),
        "a: 1\na: 2\n",
        "a: *nowhere\n",
        "? [a, b]\n: 1\n",
        "a: [b\nc: d\n",  # a syntax error: left to the Python composer, which says where
    ],
)
def test_c_and_python_composers_agree(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values, lines, readings and refusals (depth, aliases, duplicate and odd keys) are the same."""
    assert loader._c_composable(text) == ("[b" not in text)
    c_out, python_out = _both(text, monkeypatch)
    assert c_out == python_out


def test_a_deep_stream_is_left_to_the_python_composer() -> None:
    """libyaml composes by C recursion: a stream that may nest past the bound is never given to it."""
    deep = "[" * 100_000 + "]" * 100_000 + "\n"
    assert not loader._c_composable(deep)
    with pytest.raises(InputError, match="nested"):
        loader.load_yaml_documents(deep, "f.yaml")
