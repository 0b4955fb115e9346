"""conformance.json and summary.md: one entry per check, with its evidence and duration.

The collector is a pytest plugin of its own (gpuconf.testing.plugin registers one per session):
its hooks fold each report in, set the exit code of a run that only the environment failed,
and write the reports at the end.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gpuconf.testing.evidence import decode_properties

# Reports of these checks go into conformance.json (the project's own tests/ do not).
REPORTED = ("suites/", "benchmarks/")


# eq=False keeps identity hashing: pluggy keeps registered plugins in sets.
@dataclass(eq=False)
class ReportCollector:
    """Collects check results during the run and writes the reports at the end (a pytest plugin)."""

    report_dir: Path
    backend: str
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    sections: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    environment_codes: list[int | None] = field(default_factory=list)
    backend_reason: str = ""

    def environment_exit_code(self) -> int | None:
        """The exit code when every failure is an environment failure (None otherwise)."""
        from gpuconf.errors import EXIT_ENVIRONMENT

        verdicts = {c["verdict"] for c in self.entries.values()}
        if "environment" not in verdicts or verdicts & {"failed", "error"}:
            return None
        return next((c for c in self.environment_codes if c), EXIT_ENVIRONMENT)

    def record(self, report: pytest.TestReport) -> None:
        """Fold one phase report into the check's entry (a setup failure or skip counts too)."""
        entry = self.entries.setdefault(
            report.nodeid, {"id": report.nodeid, "verdict": "passed", "duration_s": 0.0, "evidence": {}, "detail": ""}
        )
        entry["duration_s"] = round(entry["duration_s"] + report.duration, 3)
        entry["evidence"].update(decode_properties(report.user_properties))
        if report.when == "call" or report.outcome != "passed":
            if report.outcome == "skipped":
                entry["verdict"] = "skipped"
                entry["detail"] = _skip_reason(report)
            elif report.outcome == "failed" and hasattr(report, "gpuconf_environment"):
                entry["verdict"] = "environment"
                entry["detail"] = _failure_message(report)
                self.environment_codes.append(report.gpuconf_environment)
            elif report.outcome == "failed":
                entry["verdict"] = "failed" if report.when == "call" else "error"
                entry["detail"] = _failure_message(report)
        if getattr(report, "wasxfail", None) is not None:
            entry["verdict"] = "xfailed" if report.outcome == "skipped" else "xpassed"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Every phase report of a check under suites/ or benchmarks/."""
        if report.nodeid.startswith(REPORTED):
            self.record(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Only environment failures: the run exits with their code (preflight's 10-14, else 3), not 1."""
        if exitstatus != pytest.ExitCode.TESTS_FAILED:
            return
        code = self.environment_exit_code()
        if code is not None:
            session.exitstatus = code

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
    ) -> None:
        """Write the reports and show the summary (nothing when no check was reported)."""
        if not self.entries:
            return
        json_path, md_path = self.write()
        terminalreporter.section("gpuconf conformance summary")
        terminalreporter.write(md_path.read_text())
        terminalreporter.write_line(f"reports: {json_path}, {md_path}, {config.option.xmlpath}")

    def write(self) -> tuple[Path, Path]:
        """Write conformance.json and summary.md (and append to $GITHUB_STEP_SUMMARY)."""
        self.report_dir.mkdir(parents=True, exist_ok=True)
        checks = list(self.entries.values())
        failed = [c for c in checks if c["verdict"] in ("failed", "error")]
        environment = [c for c in checks if c["verdict"] == "environment"]
        # A conformance failure outranks an environment failure; neither is a pass.
        verdict = "fail" if failed else "environment failure" if environment else "pass" if checks else "no checks ran"
        doc = {
            "verdict": verdict,
            "backend": self.backend,
            "backend_reason": self.backend_reason,
            "started": self.started,
            "wall_s": round(time.time() - self.started, 2),
            "stages_s": self.stages,
            "environment": self.environment,
            "checks": checks,
        }
        json_path = self.report_dir / "conformance.json"
        json_path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        md_path = self.report_dir / "summary.md"
        md = self.summary_markdown(doc)
        md_path.write_text(md)
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as fh:
                fh.write(md + "\n")
        return json_path, md_path

    def summary_markdown(self, doc: dict[str, Any]) -> str:
        """A readable table: check, verdict, the key evidence, time."""
        counts: dict[str, int] = {}
        for c in doc["checks"]:
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
        lines = [
            f"## gpuconf conformance: **{doc['verdict'].upper()}** (backend `{doc['backend']}`)",
            "",
            f"Backend `{doc['backend']}`: {doc.get('backend_reason') or 'as configured'}.",
            "",
            ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) + f" in {doc['wall_s']:.1f} s",
            "",
        ]
        if doc["stages_s"]:
            lines += ["| stage | seconds |", "|---|---:|"]
            lines += [f"| {k} | {v:.2f} |" for k, v in doc["stages_s"].items()] + [""]
        lines += ["| check | verdict | evidence / reason | s |", "|---|---|---|---:|"]
        for c in doc["checks"]:
            shown = c["detail"] if c["verdict"] != "passed" else _evidence_digest(c["evidence"])
            lines.append(f"| `{_short_id(c['id'])}` | {_icon(c['verdict'])} | {_cell(shown)} | {c['duration_s']:.2f} |")
        for section in self.sections:
            lines += ["", section.rstrip()]
        return "\n".join(lines) + "\n"


def _icon(verdict: str) -> str:
    return {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP", "environment": "ENVIRONMENT"}.get(
        verdict, verdict.upper()
    )


def _short_id(nodeid: str) -> str:
    return nodeid.split("/")[-1]


def _evidence_digest(ev: dict[str, Any]) -> str:
    keys = ("summary", "node", "pod", "k8s_node", "gpu_ids", "cuda_visible_devices", "device", "uuid", "p50_ms")
    picked = [f"{k}={ev[k]}" for k in keys if k in ev]
    return "; ".join(picked) if picked else "; ".join(f"{k}={v}" for k, v in list(ev.items())[:3])


def _cell(text: Any) -> str:
    return _short(str(text), 160).replace("|", "\\|").replace("\n", " ")


def _short(text: str, limit: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _failure_message(report: pytest.TestReport) -> str:
    """The failure's own message (the assertion or pytest.fail text), not the traceback."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return _short(str(crash.message), 2000)
    return _short(report.longreprtext, 2000)


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return _short(str(report.longrepr))
