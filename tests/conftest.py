"""Fixtures shared by several test files of tests/."""

from __future__ import annotations

import pytest

from tests.head_runs import HeadRun, head_run


@pytest.fixture(scope="session")
def private_head_run(tmp_path_factory: pytest.TempPathFactory) -> HeadRun:
    """The head-only run in a private network namespace (tests/head_runs.py), once per session."""
    return head_run("private", tmp_path_factory.mktemp("head-private"))


@pytest.fixture(scope="session")
def host_head_run(tmp_path_factory: pytest.TempPathFactory) -> HeadRun:
    """The head-only run on the host's network, stopped by SIGTERM (tests/head_runs.py), once per session."""
    return head_run("host", tmp_path_factory.mktemp("head-host"))
