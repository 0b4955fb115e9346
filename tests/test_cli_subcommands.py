"""One command line: `gpuconf kwok ...` and `gpuconf kind ...` are subcommands of `gpuconf`, nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpuconf.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("argv", "command", "sub"),
    [
        (["kwok", "up", "--nodes", "manifests/nodes"], "kwok_command", "up"),
        (["kwok", "down"], "kwok_command", "down"),
        (["kwok", "status"], "kwok_command", "status"),
        (["kwok", "kubeconfig"], "kwok_command", "kubeconfig"),
        (["kwok", "build"], "kwok_command", "build"),
        (["kwok", "pin"], "kwok_command", "pin"),
        (["kind", "up"], "kind_command", "up"),
        (["kind", "down"], "kind_command", "down"),
        (["kind", "status"], "kind_command", "status"),
    ],
)
def test_subcommands_parse(argv: list[str], command: str, sub: str) -> None:
    args = build_parser().parse_args(argv)
    assert getattr(args, command) == sub


def test_kwok_up_takes_node_pools() -> None:
    args = build_parser().parse_args(["kwok", "up", "--nodes", "a.yaml", "b"])
    assert [str(p) for p in args.nodes] == ["a.yaml", "b"]


def test_kwok_status_of_a_control_plane_that_is_not_up(tmp_path: Path) -> None:
    """`gpuconf kwok status` with an empty state folder: exit 1 and where it looked."""
    run = _run("-m", "gpuconf", "kwok", "status", env={"GPUCONF_STATE": str(tmp_path / "state")})
    assert run.returncode == 1, run.stderr
    assert f"down (no control plane recorded in {tmp_path / 'state'})" in run.stdout


@pytest.mark.parametrize("argv", [["kwok"], ["kind"], ["kwok", "sideways"]])
def test_a_missing_or_unknown_subcommand_is_a_usage_error(argv: list[str]) -> None:
    run = _run("-m", "gpuconf", *argv)
    assert run.returncode == 2
    assert "usage: gpuconf" in run.stderr


@pytest.mark.parametrize("module", ["gpuconf.provision.kwok", "gpuconf.provision.kind"])
def test_the_old_entry_points_are_gone(module: str) -> None:
    """There is one command line: the provisioners are not runnable modules of their own."""
    run = _run("-m", module)
    assert run.returncode != 0 and "cannot be directly executed" in run.stderr


def test_the_old_cluster_subcommand_is_gone() -> None:
    """`cluster` named the kwok control plane; it is `gpuconf kwok` now (`--backend cluster` is a real cluster)."""
    run = _run("-m", "gpuconf", "cluster", "status")
    assert run.returncode == 2 and "invalid choice: 'cluster'" in run.stderr
