"""Unit tests of gpuconf.model.shell, held against real bash."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from gpuconf.model.shell import bash_words, split_commands, survives_as_one_word, value_after_bash

BASH = shutil.which("bash")

# Command strings as KubeRay's `bash -c` would see them (no $-expansions: bash_words leaves those as written).
COMMANDS = [
    '--resources={"gpu_worker": 1}',  # the seed's value: split in two, quotes removed
    """--resources='{"gpu_worker": 1}'""",  # single-quoted JSON
    '--resources="{\\"gpu_worker\\": 1}"',  # double-quoted JSON with escaped quotes
    """--resources='"{\\"gpu_worker\\": 1}"'""",  # the manifests' form, as YAML hands it over
    "ray start --head --block",
    "--labels=a=b,c=d",
    "ray start  --address=c-head-svc:6379  --block  --num-cpus=4 ",
    """--x='a b'"c d"e""",  # adjacent quoted parts join into one word
    '--x="a\\\\b"',  # \\ inside double quotes
    '--x="a\\nb"',  # \n inside double quotes stays two characters
    "--x=a\\ b",  # escaped blank outside quotes
    "--x='it''s'",
    "--x=a#b",  # '#' inside a word is not a comment
    '--x="a\\$b"',  # \$ inside double quotes: bash removes the backslash
    '--x="\\`"',  # \` inside double quotes: bash removes the backslash
    "--x=1 #trailing comment",  # '#' at the start of a word starts a comment in bash -c
]


def real_bash_words(command: str) -> list[str]:
    """The argv bash builds for `command`, via printf '%s\\0'."""
    assert BASH is not None
    out = subprocess.run(
        [BASH, "-c", "printf '%s\\0' " + command],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    return out.stdout.split("\0")[:-1]


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@pytest.mark.parametrize("command", COMMANDS)
def test_bash_words_agrees_with_bash(command: str) -> None:
    """Word splitting and quote removal match bash, word for word."""
    assert bash_words(command) == real_bash_words(command)


def test_seed_resources_value_splits_in_two() -> None:
    """The design's central fact: the seed's JSON becomes two arguments with no quotes."""
    assert bash_words('--resources={"gpu_worker": 1}') == ["--resources={gpu_worker:", "1}"]


def test_unbalanced_quote_raises() -> None:
    """bash refuses an unterminated quote; so do we."""
    with pytest.raises(ValueError):
        bash_words("--resources='{")


@pytest.mark.parametrize(
    "value, survives, after",
    [
        ('{"gpu_worker": 1}', False, None),
        ("'{\"gpu_worker\": 1}'", True, '{"gpu_worker": 1}'),
        ('"{\\"gpu_worker\\": 1}"', True, '{"gpu_worker": 1}'),
        ('{"gpu_worker":1}', True, "{gpu_worker:1}"),  # one word, but the quotes are gone
        ("a=b,c=d", True, "a=b,c=d"),
        ("4", True, "4"),
        ("'unterminated", False, None),
    ],
)
def test_survives_and_value_after_bash(value: str, survives: bool, after: str | None) -> None:
    """What `ray start` receives for `--k=value`."""
    assert survives_as_one_word(value) is survives
    assert value_after_bash(value) == after


def test_split_commands_on_semicolon_and_and() -> None:
    """KubeRay's `ulimit -n 65536; ray start ...` script, plus a chained command."""
    assert split_commands("ulimit -n 65536; ray start --head && sleep 1") == [
        "ulimit -n 65536",
        "ray start --head",
        "sleep 1",
    ]


def test_split_commands_ignores_separators_inside_quotes() -> None:
    """`;` and `&&` inside quotes belong to the word."""
    script = """echo 'a; b' && ray start --resources="{\\"x\\": 1; \\"y\\": 2}"; true"""
    assert split_commands(script) == ["echo 'a; b'", 'ray start --resources="{\\"x\\": 1; \\"y\\": 2}"', "true"]
