"""Suppressions: in source (annotations on the Ray object) and external (the expectations file)."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import pytest

from gpuconf.cli import main
from gpuconf.errors import InputError
from gpuconf.static.check import run_check
from tests.test_ci_outputs import assert_valid_sarif

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
HEAD_GPU_CASE = MANIFESTS / "regressions" / "head-advertises-gpus.yaml"


def make_root(tmp_path: Path, annotations: str = "", suppressions: str = "") -> Path:
    """A manifest root: the head-advertises-gpus case as its RayCluster (HEAD-GPU fires), the
    reference Serve config, nodes and expectations, plus the given annotation and suppression lines."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(MANIFESTS / "nodes", root / "nodes")
    shutil.copy(MANIFESTS / "serve-config.yaml", root)
    cluster = HEAD_GPU_CASE.read_text().split("\n", 1)[1]  # without the `# expect:` header
    if annotations:
        cluster = cluster.replace("metadata:\n  name: ml-cluster\n", f"metadata:\n  name: ml-cluster\n{annotations}", 1)
    (root / "raycluster.yaml").write_text(cluster)
    (root / "expectations.yaml").write_text((MANIFESTS / "expectations.yaml").read_text() + suppressions)
    return root


ANNOTATED = '  annotations:\n    gpuconf.io/ignore: "HEAD-GPU, GPU-CAPACITY"\n    gpuconf.io/ignore-reason: "a GPU head on purpose"\n'


def test_without_suppression_the_case_fails(tmp_path: Path) -> None:
    """The baseline of the tests below: HEAD-GPU fires."""
    result = run_check([make_root(tmp_path)])
    assert result.verdict == "fail" and [f.rule for f in result.findings] == ["HEAD-GPU"]


def test_annotation_silences_the_rule_for_its_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 0; the finding stays in JSON marked suppressed with its reason, and in SARIF as inSource."""
    root = make_root(tmp_path, ANNOTATED)
    assert main(["check", str(root), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "pass" and doc["counts"]["error"] == 0
    [finding] = doc["findings"]
    assert finding["rule"] == "HEAD-GPU"
    assert finding["suppressed"]["kind"] == "inSource" and finding["suppressed"]["reason"] == "a GPU head on purpose"
    assert finding["suppressed"]["line"] == 6  # the gpuconf.io/ignore line
    assert main(["check", str(root), "--format", "sarif"]) == 0
    sarif = json.loads(capsys.readouterr().out)
    assert_valid_sarif(sarif)
    [result] = sarif["runs"][0]["results"]
    assert result["suppressions"] == [
        {"kind": "inSource", "status": "accepted", "justification": "a GPU head on purpose"}
    ]
    assert main(["check", str(root)]) == 0
    text = capsys.readouterr().out
    assert "suppressed error [HEAD-GPU]" in text and "1 suppressed" in text


def test_annotation_names_other_rules_only(tmp_path: Path) -> None:
    """A rule the annotation does not name still fails."""
    root = make_root(tmp_path, ANNOTATED.replace("HEAD-GPU, ", ""))
    assert run_check([root]).verdict == "fail"


def test_annotation_without_reason_is_bad_input(tmp_path: Path) -> None:
    """A silenced rule needs its reason beside it: exit 2 at the annotation's line."""
    root = make_root(tmp_path, '  annotations:\n    gpuconf.io/ignore: "HEAD-GPU"\n')
    with pytest.raises(InputError) as exc:
        run_check([root])
    assert exc.value.loc is not None and exc.value.loc.line == 6
    assert "gpuconf.io/ignore-reason" in exc.value.fix


def test_unknown_rule_in_annotation_is_exit_2_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A typo would silence nothing: exit 2, file:line, and the rule it was close to."""
    root = make_root(tmp_path, ANNOTATED.replace("HEAD-GPU,", "HEAD-GPUS,"))
    assert main(["check", str(root)]) == 2
    err = capsys.readouterr().err
    assert "raycluster.yaml:6: error: suppression names unknown rule 'HEAD-GPUS'" in err
    assert "did you mean HEAD-GPU?" in err


EXTERNAL = """suppressions:
  - rule: HEAD-GPU
    target: RayCluster/ml-cluster
    reason: tracked in TICKET-42
    expires: {expires}
"""


def test_expectations_suppression_silences_by_target(tmp_path: Path) -> None:
    """An external suppression, not yet expired: pass, the finding marked `external`."""
    root = make_root(tmp_path, suppressions=EXTERNAL.format(expires="2999-12-31"))
    result = run_check([root])
    assert result.verdict == "pass"
    [silenced] = result.suppressed
    assert silenced.by.kind == "external" and silenced.by.reason == "tracked in TICKET-42"
    assert silenced.by.expires == datetime.date(2999, 12, 31)


def test_expectations_suppression_for_another_target_does_not_apply(tmp_path: Path) -> None:
    """The target must match (exactly or by glob)."""
    other = EXTERNAL.format(expires="2999-12-31").replace("RayCluster/ml-cluster", "RayCluster/other")
    assert run_check([make_root(tmp_path, suppressions=other)]).verdict == "fail"
    (tmp_path / "g").mkdir()
    glob = EXTERNAL.format(expires="2999-12-31").replace("RayCluster/ml-cluster", "RayCluster/ml-*")
    assert run_check([make_root(tmp_path / "g", suppressions=glob)]).verdict == "pass"


def test_an_expired_suppression_no_longer_applies_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Past its `expires`, the finding fails again (exit 1), with a note naming the expired suppression."""
    root = make_root(tmp_path, suppressions=EXTERNAL.format(expires="2001-01-01"))
    assert main(["check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "error [HEAD-GPU]" in out
    assert "suppression of HEAD-GPU for RayCluster/ml-cluster expired on 2001-01-01" in out
    assert "expectations.yaml:21:" in out  # the suppression's `rule:` line


def test_unknown_rule_in_expectations_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 2 at the `rule:` line of the suppression."""
    root = make_root(tmp_path, suppressions=EXTERNAL.format(expires="2999-12-31").replace("HEAD-GPU", "NOPE"))
    assert main(["check", str(root)]) == 2
    assert "expectations.yaml:21: error: suppression names unknown rule 'NOPE'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  - rule: HEAD-GPU\n    target: RayCluster/ml-cluster\n", "needs `reason`"),
        ("  - {rule: HEAD-GPU, target: x, reason: y, expires: soon}\n", "`expires` must be a date"),
        ("  - {rule: HEAD-GPU, target: x, reason: y, until: 2030-01-01}\n", "unknown field `until`"),
        ("  - HEAD-GPU\n", "must be a mapping"),
    ],
)
def test_malformed_expectations_suppressions(tmp_path: Path, entry: str, message: str) -> None:
    """Each malformed suppression is exit 2 at its line of the expectations file, with a fix."""
    root = make_root(tmp_path, suppressions="suppressions:\n" + entry)
    with pytest.raises(InputError) as exc:
        run_check([root])
    assert message in exc.value.message and exc.value.fix
    assert exc.value.loc is not None and exc.value.loc.file.endswith("expectations.yaml")
    assert exc.value.loc.line == 21
