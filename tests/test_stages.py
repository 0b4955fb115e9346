"""`make test`'s stage table and `make test-cold`'s new-machine environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuconf.testing import cold, stages

pytestmark = pytest.mark.processes


def test_stages_stop_at_the_first_failure_and_table_every_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Makefile").write_text("ok:\n\t@true\nbad:\n\t@exit 3\nlater:\n\t@true\n")
    report = tmp_path / "stages.json"
    monkeypatch.chdir(tmp_path)
    rc = stages.run(["ok", "bad", "later"], report)
    doc = json.loads(report.read_text())
    assert rc == 2 and doc["rc"] == 2  # make's own status for a failed recipe
    assert [(s["name"], s["rc"]) for s in doc["stages"]] == [("ok", 0), ("bad", 2)]
    assert doc["not_run"] == ["later"]


def test_the_table_names_each_stage_its_time_and_what_did_not_run() -> None:
    text = stages.table([stages.Stage("lint", 75.0, 0, 1.0, 2.0)], ["test-kwok"], 75.0)
    assert "lint" in text and "1 min 15.0 s" in text and "test-kwok" in text and "not run" in text


def test_the_cold_environment_points_every_cache_at_the_empty_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPUCONF_CACHE", "/warm/cache")
    monkeypatch.setenv("GOMODCACHE", "/warm/mod")
    monkeypatch.setenv("UV_CACHE_DIR", "/warm/uv")
    env = cold.cold_env(tmp_path)
    assert env["HOME"] == str(tmp_path) and env["CI"] == "true"
    assert "GPUCONF_CACHE" not in env
    for key in ("GOPATH", "GOMODCACHE", "GOCACHE", "PIP_CACHE_DIR", "UV_CACHE_DIR"):
        assert Path(env[key]).is_relative_to(tmp_path), key


def test_the_cold_run_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious").write_text("x")
    with pytest.raises(SystemExit, match="not a test-cold folder"):
        cold.fresh_dir(tmp_path)
    assert (tmp_path / "precious").exists()
    mine = tmp_path / "mine"
    cold.fresh_dir(mine)
    (mine / "left").write_text("x")
    cold.fresh_dir(mine)
    assert not (mine / "left").exists() and (mine / cold.MARKER).exists()


def test_a_background_stage_runs_beside_the_next_and_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """&bg starts at once (nice 19) while `fg` runs; =bg waits for it and both rows are in the table."""
    (tmp_path / "Makefile").write_text(
        "bg:\n\t@sleep 1; test -f fg.done && touch bg.saw-fg\nfg:\n\t@touch fg.done\nlast:\n\t@test -f bg.saw-fg\n"
    )
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "stages.json"
    rc = stages.run(["&bg", "fg", "=bg", "last"], report)
    doc = json.loads(report.read_text())
    assert rc == 0, doc
    assert [s["name"] for s in doc["stages"]] == ["fg", "bg (bg)", "  wait for bg", "last"]
    assert (tmp_path / "bg.saw-fg").exists()  # the background stage ran while the foreground one did


def test_make_test_hands_every_stage_to_the_runner_as_one_word() -> None:
    """`&stage` must reach the runner quoted: unquoted, the shell would start a job and run the rest."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "test", "TEST_STAGES=setup &bg lint =bg"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(x for x in done.stdout.splitlines() if "gpuconf.testing.stages" in x)
    assert "'setup' '&bg' 'lint' '=bg'" in line, line
