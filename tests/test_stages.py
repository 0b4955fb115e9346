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


def test_the_table_names_each_stage_its_lane_time_cpu_and_what_did_not_run() -> None:
    text = stages.table([stages.Stage("lint", 75.0, 0, 1.0, 2.0, "main", 3.0, 41.6)], ["test-kwok"], 75.0)
    assert "lint" in text and "main" in text and "1 min 15.0 s" in text and "42%" in text
    assert "test-kwok" in text and "not run" in text


def test_host_cpu_busy_is_the_share_of_busy_jiffies() -> None:
    assert stages.busy_pct((100, 1000), (150, 1100)) == 50.0
    assert stages.busy_pct(None, (1, 2)) is None and stages.busy_pct((5, 10), (5, 10)) is None


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


def test_a_background_lane_runs_beside_the_foreground_and_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """&bg starts at once while `fg` runs; =bg waits for it; every row is in the table with its lane."""
    (tmp_path / "Makefile").write_text(
        "bg:\n\t@sleep 1; test -f fg.done && touch bg.saw-fg\nfg:\n\t@touch fg.done\nlast:\n\t@test -f bg.saw-fg\n"
    )
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "stages.json"
    rc = stages.run(["&bg", "fg", "=bg", "last"], report)
    doc = json.loads(report.read_text())
    assert rc == 0, doc
    assert [(s["name"], s["lane"]) for s in doc["stages"]] == [
        ("fg", "main"), ("wait for bg", "main"), ("last", "main"), ("bg", "bg")
    ]  # fmt: skip
    assert (tmp_path / "bg.saw-fg").exists()  # the background stage ran while the foreground one did
    assert (tmp_path / "lanes" / "bg.log").exists()


def test_a_failing_stage_ends_its_lane_while_the_others_run_to_their_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lane a fails at its first stage (its second is not run); lane b and the foreground still run;
    the run fails with the failure's status; a ~target runs at nice 19."""
    (tmp_path / "Makefile").write_text(
        "a1:\n\t@exit 4\na2:\n\t@touch a2.ran\n"
        'b1:\n\t@sleep 0.5\nb2:\n\t@test "$$(nice)" = 19 && touch b2.niced\n'
        "fg:\n\t@touch fg.ran\n"
    )
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "stages.json"
    rc = stages.run(["&a:a1,a2", "&b:b1,~b2", "fg", "=a", "=b"], report)
    doc = json.loads(report.read_text())
    assert rc == 2 and doc["rc"] == 2, doc  # make's own status for a failed recipe
    ran = {s["name"]: (s["lane"], s["rc"]) for s in doc["stages"]}
    assert ran["a1"] == ("a", 2) and "a2" not in ran and doc["not_run"] == ["a2"]
    assert ran["b1"] == ("b", 0) and ran["b2"] == ("b", 0) and ran["fg"] == ("main", 0)
    assert (tmp_path / "b2.niced").exists() and (tmp_path / "fg.ran").exists()
    assert not (tmp_path / "a2.ran").exists()


def test_a_lane_waits_for_another_and_stops_when_it_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """&t:=b,kwok runs kwok only once lane b has passed; with b failed, kwok is not run; main runs on."""
    (tmp_path / "Makefile").write_text(
        "build:\n\t@sleep 0.5; touch built\nbad:\n\t@exit 5\nkwok:\n\t@test -f built && touch kwok.ran\n"
        "other:\n\t@touch other.ran\nfg:\n\t@true\n"
    )
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "stages.json"
    assert stages.run(["&b:build", "&t:=b,kwok", "fg", "=t", "=b"], report) == 0
    assert (tmp_path / "kwok.ran").exists()
    rows = [(s["name"], s["lane"]) for s in json.loads(report.read_text())["stages"]]
    assert ("wait for b", "t") in rows and ("kwok", "t") in rows

    (tmp_path / "kwok.ran").unlink()
    rc = stages.run(["&b:bad", "&t:=b,kwok", "fg", "=t", "=b", "other"], report)
    doc = json.loads(report.read_text())
    assert rc == 2 and not (tmp_path / "kwok.ran").exists() and "kwok" in doc["not_run"], doc
    assert "other" in doc["not_run"]  # main does not run on past a failed lane it waited for


@pytest.mark.parametrize("entries", [["&bg:slow", "fg", "=bg"], ["&bg:slow", "=bg"]], ids=["in-fg", "in-wait"])
def test_sigterm_stops_every_lane_and_still_writes_the_table(tmp_path: Path, entries: list[str]) -> None:
    """SIGTERM to the runner, in a foreground stage or while it waits for a lane, interrupts every
    lane's stage (no sleep outlives it; seen: a lane being waited for was left running) and reports 130."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "Makefile").write_text("slow:\n\t@sleep 120\nfg:\n\t@sleep 120\n")
    report = tmp_path / "stages.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpuconf.testing.stages", "--report", str(report), *entries],
        cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    doc = json.loads(report.read_text())
    assert {s["name"] for s in doc["stages"]} >= {e for e in entries if e.isalpha()} | {"slow"}, doc
    left = subprocess.run(["pgrep", "-f", "sleep 120"], capture_output=True, text=True).stdout.split()
    mine = [pid for pid in left if str(tmp_path) in Path(f"/proc/{pid}/cwd").resolve().as_posix()]
    assert mine == [], mine


def test_a_lane_entry_names_its_targets_in_order() -> None:
    lane = stages.parse_lane("&tiers:~build,kwok,realpods")
    assert lane.name == "tiers" and lane.targets == ["~build", "kwok", "realpods"]
    assert stages.parse_lane("&bg").targets == ["bg"]
    with pytest.raises(SystemExit, match="expected &LANE:TARGET"):
        stages.parse_lane("&x:")


def test_make_test_hands_every_stage_to_the_runner_as_one_word(tmp_path: Path) -> None:
    """`&stage` must reach the runner quoted: unquoted, the shell would start a job and run the rest.

    make runs a recipe that names $(MAKE) even under -n, so the runner does start (its stages only
    print, under -n): its table and lane logs go to a folder of the test's own, not the checkout's.
    """
    import subprocess

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "test", "TEST_STAGES=setup &bg lint =bg", f"REPORTS={tmp_path}"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(x for x in done.stdout.splitlines() if "gpuconf.testing.stages" in x)
    assert "'setup' '&bg' 'lint' '=bg'" in line, line
