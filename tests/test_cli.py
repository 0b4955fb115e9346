"""End-to-end tests of `python -m gpuconf check`: exit codes, file:line errors, the JSON contract."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpuconf.cli import main
from gpuconf.static.regressions import RegressionCase, discover
from gpuconf.static.rules import CATALOGUE

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
CASES = discover(MANIFESTS / "regressions")

# Each run starts an interpreter and imports Ray's Serve schemas (seconds apiece).
pytestmark = [pytest.mark.slow, pytest.mark.processes]


@dataclass
class Run:
    """One finished `gpuconf check` run."""

    rc: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        """stdout and stderr together."""
        return self.out + self.err


def gpuconf(*args: str) -> Run:
    """Run `python -m gpuconf ARGS` from the repository root."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconf", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def gpuconf_main(*args: str) -> Run:
    """`gpuconf ARGS` through the CLI's main() in this process: what `python -m gpuconf` runs once its
    interpreter is up (the other tests here start that interpreter), without paying for it per case."""
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return Run(rc, out.getvalue(), err.getvalue(), time.monotonic() - start)


@pytest.fixture(scope="module")
def case_runs(monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Run]:
    """Every regression case checked once, as `gpuconf check CASE` from the repository root."""
    monkeypatch_module.chdir(REPO)
    return {c.name: gpuconf_main("check", str(c.path.relative_to(REPO))) for c in CASES}


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """A monkeypatch undone at the end of the module."""
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A copy of the shipped RayCluster, Serve config, expectations and nodes; bad files go in base/cases/."""
    for name in ("raycluster.yaml", "serve-config.yaml", "expectations.yaml"):
        shutil.copy(MANIFESTS / name, tmp_path / name)
    shutil.copytree(MANIFESTS / "nodes", tmp_path / "nodes")
    (tmp_path / "cases").mkdir()
    return tmp_path


def test_manifests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped manifests pass: exit 0 and the verdict line; the run time is printed for the record."""
    run = gpuconf("check", "manifests")
    assert run.rc == 0, run.text
    assert "verdict: PASS (0 error(s), 0 warning(s))" in run.out
    assert "ml_service/MLService *" in run.out
    assert "Traceback" not in run.text
    with capsys.disabled():
        print(f"\n[timing] python -m gpuconf check manifests: {run.seconds:.2f} s (wall, including interpreter start)")


def test_default_path_is_manifests() -> None:
    """No path: manifests/ is checked."""
    run = gpuconf("check")
    assert run.rc == 0
    assert "== RayCluster/ml-cluster" in run.out and "== RayService/ml-service" in run.out


def test_every_case_is_discovered() -> None:
    """The regression folder holds the cases the suite promises, each with a known rule."""
    from gpuconf.static.rules import CATALOGUE

    ids = {r.id for r in CATALOGUE}
    assert len(CASES) >= 16
    for case in CASES:
        assert case.rule in ids, case.name
        assert case.consequences <= ids, case.name


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_regression_case_fails_with_its_rule(case: RegressionCase, case_runs: dict[str, Run]) -> None:
    """Each known-bad manifest exits 1 and names its rule (and the findings that follow from it)."""
    run = case_runs[case.name]
    severity = next(r.severity for r in CATALOGUE if r.id == case.rule)
    # A warning-only rule's case (e.g. SERVE-AUTOSCALING-MAX) passes with that warning and no error;
    # an unchecked rule's case (SERVE-APP-UNSEEN) is UNCHECKED, exit 4: named, never exit 1 for it alone.
    alone = severity in ("warning", "unchecked") and "error [" not in run.out
    outcome = {"warning": (0, "verdict: PASS"), "unchecked": (4, "verdict: UNCHECKED")}
    rc, verdict = outcome[severity] if alone else (1, "verdict: FAIL")
    assert run.rc == rc, run.text
    assert (f"{severity} [{case.rule}]" if alone else f"[{case.rule}]") in run.out
    for also in case.consequences:
        assert f"[{also}]" in run.out
    assert verdict in run.out
    assert "Traceback" not in run.text


def expect_input_error(run: Run, where: str, *words: str) -> None:
    """Exit 2, `file:line: error:` on stderr, no traceback."""
    assert run.rc == 2, run.text
    assert "Traceback" not in run.text
    assert run.out == ""
    assert f"{where}: error:" in run.err
    assert "fix:" in run.err
    for w in words:
        assert w in run.err


def test_malformed_yaml(base: Path) -> None:
    """A YAML syntax error: exit 2 at the offending line."""
    bad = base / "cases" / "bad.yaml"
    bad.write_text("apiVersion: ray.io/v1\nkind: RayCluster\nmetadata:\n  name: x\n   spec: {}\n")
    expect_input_error(gpuconf("check", str(bad)), f"{bad}:5", "YAML syntax")


def test_unknown_kind_is_listed_not_an_error(base: Path) -> None:
    """A kind gpuconf does not model is skipped and listed with its file:line; the base cluster is checked."""
    other = base / "cases" / "cm.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    run = gpuconf("check", str(other))
    assert run.rc == 0, run.text
    assert f"note: {other}:1: not modelled: ConfigMap/x (v1)" in run.out


def test_missing_head_group(base: Path) -> None:
    """A RayCluster without headGroupSpec: exit 2 inside its spec."""
    bad = base / "cases" / "nohead.yaml"
    bad.write_text("apiVersion: ray.io/v1\nkind: RayCluster\nmetadata:\n  name: x\nspec:\n  workerGroupSpecs: []\n")
    run = gpuconf("check", str(bad))
    assert run.rc == 2 and "Traceback" not in run.text
    assert "missing field `headGroupSpec`" in run.err
    assert run.err.startswith((f"{bad}:5:", f"{bad}:6:"))


def test_node_with_unknown_field(base: Path) -> None:
    """A Node is validated against Kubernetes' schema: a typo under spec is an error at that line."""
    bad = base / "cases" / "node.yaml"
    bad.write_text("apiVersion: v1\nkind: Node\nmetadata:\n  name: n\nspec:\n  taintz: []\n")
    expect_input_error(gpuconf("check", str(bad)), f"{bad}:5", "unknown field under `spec`", "taintz")


def test_node_override_with_unknown_field(base: Path) -> None:
    """The same through --nodes."""
    bad = base / "cases" / "node.yaml"
    bad.write_text("apiVersion: v1\nkind: Node\nmetadata:\n  name: n\n  labelz: {}\n")
    expect_input_error(gpuconf("check", "manifests", "--nodes", str(bad)), f"{bad}:3", "labelz")


def test_serve_config_unknown_actor_option(base: Path) -> None:
    """`num_gpu: 1` (for num_gpus) in ray_actor_options: exit 2 at that key."""
    bad = base / "cases" / "serve.yaml"
    text = (MANIFESTS / "serve-config.yaml").read_text().replace("num_gpus: 1", "num_gpu: 1")
    bad.write_text(text)
    line = text.splitlines().index("          num_gpu: 1") + 1
    expect_input_error(gpuconf("check", str(bad)), f"{bad}:{line}", "unknown Serve config field `num_gpu`")


@pytest.mark.parametrize(
    "old, new, key",
    [
        ("num_gpus: 1", "num_gpus: lots", "num_gpus: lots"),
        ("num_replicas: 1", "num_replicas: -1", "num_replicas: -1"),
    ],
)
def test_serve_config_bad_value(base: Path, old: str, new: str, key: str) -> None:
    """A value Ray's ServeDeploySchema refuses: exit 2 at its line."""
    bad = base / "cases" / "serve.yaml"
    text = (MANIFESTS / "serve-config.yaml").read_text().replace(old, new)
    bad.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == key)
    expect_input_error(gpuconf("check", str(bad)), f"{bad}:{line}", "Serve config")


def test_missing_path() -> None:
    """A path that does not exist: exit 2, no traceback."""
    run = gpuconf("check", "no/such/folder")
    assert run.rc == 2 and "Traceback" not in run.text
    assert "no/such/folder: no such file or folder" in run.err


def test_json_contract_on_pass() -> None:
    """--format json: verdict, findings, deployments with their documented fields."""
    run = gpuconf("check", "manifests", "--format", "json")
    assert run.rc == 0
    data = json.loads(run.out)
    assert set(data) >= {"verdict", "findings", "deployments"}
    assert data["verdict"] == "pass"
    assert data["findings"] == []
    assert len(data["deployments"]) == 2
    for row in data["deployments"]:
        assert set(row) >= {"app", "deployment", "feasible_nodes", "gpu"}
        assert (row["app"], row["deployment"]) == ("ml_service", "MLService")
        assert [n["group"] for n in row["feasible_nodes"]] == ["gpu-workers"]
        assert row["feasible_nodes"][0]["k8s_node"] == "gpu-node-1"
        assert row["feasible_nodes"][0]["gpu_node"] is True
        assert row["gpu"] == {"expected": True, "num_gpus": 1.0, "expected_per_replica": 1.0}


def test_json_contract_on_fail() -> None:
    """Every finding carries rule/severity/file/line/message/fix; the seed's split names its line."""
    run = gpuconf("check", "manifests/regressions/seed-unescaped-resources.yaml", "--format", "json")
    assert run.rc == 1
    data = json.loads(run.out)
    assert data["verdict"] == "fail"
    for f in data["findings"]:
        assert set(f) >= {"rule", "severity", "file", "line", "message", "fix"}
        assert f["severity"] in ("error", "warning")
    split = next(f for f in data["findings"] if f["rule"] == "SHELL-SPLIT")
    case = MANIFESTS / "regressions" / "seed-unescaped-resources.yaml"
    lines = case.read_text().splitlines()
    assert split["file"] == "manifests/regressions/seed-unescaped-resources.yaml"
    assert lines[split["line"] - 1].strip() == 'resources: "{\\"gpu_worker\\": 1}"'
    assert data["deployments"][0]["feasible_nodes"] == []


def test_json_input_error(base: Path) -> None:
    """With --format json a bad input is a JSON error object, exit 2."""
    bad = base / "cases" / "cm.yaml"
    bad.write_text("apiVersion: v1\nkind: 7\n")
    run = gpuconf("check", str(bad), "--format", "json")
    assert run.rc == 2
    data = json.loads(run.out)
    assert data["verdict"] == "error"
    assert data["error"]["file"] == str(bad) and data["error"]["line"] == 2
    assert "`kind` must be a string" in data["error"]["message"] and data["error"]["fix"]


def test_nodes_override() -> None:
    """--nodes replaces the pool beside the manifests: an unlabelled GPU node fails the check."""
    run = gpuconf("check", "manifests", "--nodes", "manifests/regressions/gpu-node-unlabelled.yaml")
    assert run.rc == 1
    assert "[NODEPOOL-NO-GPU]" in run.out
    assert "[POD-UNSCHEDULABLE]" in run.out


def test_expect_override() -> None:
    """--expect replaces the expectations: naming an unknown deployment fails with EXPECT-MISSING at its line."""
    exp = "manifests/regressions/expectations-name-unknown-deployment.yaml"
    run = gpuconf("check", "manifests", "--expect", exp, "--format", "json")
    assert run.rc == 1
    found = [f for f in json.loads(run.out)["findings"] if f["rule"] == "EXPECT-MISSING"]
    assert len(found) == 2  # one per target: the RayService and the RayCluster
    lines = (REPO / exp).read_text().splitlines()
    assert {f["file"] for f in found} == {exp}
    assert lines[found[0]["line"] - 1].strip() == "- app: ml_service"


def test_expect_override_wrong_kind() -> None:
    """--expect with a file that is not Expectations: exit 2."""
    run = gpuconf("check", "manifests", "--expect", "manifests/nodes/gpu-pool.yaml")
    assert run.rc == 2 and "Traceback" not in run.text
    assert "expected kind Expectations, found Node" in run.err


def test_catalogue_lists_every_rule() -> None:
    """`gpuconf catalogue` prints one line per rule id."""
    from gpuconf.static.rules import CATALOGUE

    run = gpuconf("catalogue")
    assert run.rc == 0
    assert [line.split()[0] for line in run.out.splitlines()] == [r.id for r in CATALOGUE]
