"""The README's example output is what the code prints (a stale example fails here)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from gpuconf.cli import main

REPO = Path(__file__).resolve().parents[1]
# A fenced block that starts with `$ .venv/bin/python -m gpuconf check ...` or `$ gpuconf check ...`.
_EXAMPLE = re.compile(
    r"```\n\$ (?:\.venv/bin/python -m gpuconf|\.venv/bin/gpuconf|gpuconf) (check[^\n]*)\n(.*?)```", re.S
)


def _examples() -> list[tuple[str, str]]:
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))] if p.exists()
    )
    return [(m.group(1), m.group(2)) for m in _EXAMPLE.finditer(text)]


def test_there_is_an_example() -> None:
    """The README shows at least one `gpuconf check` run."""
    assert _examples()


@pytest.mark.parametrize("command, shown", _examples(), ids=[c for c, _ in _examples()])
def test_example_output_is_produced_by_the_code(
    command: str, shown: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run the example's command from the repository root and compare its stdout, line for line."""
    monkeypatch.chdir(REPO)
    main(shlex.split(command))
    assert capsys.readouterr().out == shown
