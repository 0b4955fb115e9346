"""The suite's own time to verdict: a tier's command run to its end, its verdict read from its report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from gpuconf.bench.verdict_time import VerdictRunFailed, read_report, run_to_verdict

WRITE_REPORT = """
import json, pathlib, sys
out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
checks = [{"id": "a", "verdict": "passed"}, {"id": "b", "verdict": "passed"}, {"id": "c", "verdict": "skipped"}]
(out / "conformance.json").write_text(json.dumps({"verdict": sys.argv[2], "stages_s": {"cluster_up": 9.5}, "checks": checks}))
print("done")
sys.exit(int(sys.argv[3]))
"""


def test_a_run_reports_its_verdict_stages_counts_and_load(tmp_path: Path) -> None:
    report = tmp_path / "r"
    run = run_to_verdict([sys.executable, "-c", WRITE_REPORT, str(report), "pass", "0"], 60, report)
    assert run.returncode == 0 and run.verdict == "pass"
    assert run.stages_s == {"cluster_up": 9.5} and run.counts == {"passed": 2, "skipped": 1}
    assert run.wall_s > 0 and "done" in run.output_tail
    ev = run.evidence()
    assert len(ev["load_before"]) == 3 and ev["cpus"] >= 1


def test_a_failing_run_keeps_its_exit_status_and_verdict(tmp_path: Path) -> None:
    report = tmp_path / "r"
    run = run_to_verdict([sys.executable, "-c", WRITE_REPORT, str(report), "fail", "1"], 60, report)
    assert (run.returncode, run.verdict) == (1, "fail")


def test_no_report_reads_as_no_verdict(tmp_path: Path) -> None:
    assert read_report(tmp_path) == (None, {}, {})
    (tmp_path / "conformance.json").write_text("{not json")
    assert read_report(tmp_path) == (None, {}, {})
    (tmp_path / "conformance.json").write_text(json.dumps({"verdict": "pass"}))
    assert read_report(tmp_path) == ("pass", {}, {})


def test_a_hung_run_is_stopped_and_says_what_it_waited_for(tmp_path: Path) -> None:
    with pytest.raises(VerdictRunFailed, match=r"timed out after 1s waiting for the verdict of: .*sleep"):
        run_to_verdict(["sleep", "60"], 1, tmp_path)
