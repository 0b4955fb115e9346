"""The pytest plugin's central hooks, run in a pytester project with a backend of its own.

The backend ("fake", registered by the project's conftest the way a real one is: one registry
entry) provides only `ray`, hands out a LiveCluster without Ray processes, and writes a marker file
when asked for diagnostics. Each run is a subprocess, so the plugin's session state never mixes
with this session's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.processes  # pytester runs nested pytest sessions

CONFTEST = """
from gpuconf.backends import registry

registry.BACKENDS["fake"] = "fakebackend:BACKEND"
pytest_plugins = ["gpuconf.testing.plugin", "gpuconf.testing.fixtures"]
"""

FAKE_BACKEND = """
from dataclasses import dataclass, field
from pathlib import Path

from gpuconf.live.contract import Capability, LiveCluster


class NoServe:
    dashboard_url = "http://127.0.0.1:9"

    def serve_config(self, body, model, client):
        raise AssertionError("no Serve here")

    def node_views(self):
        return []

    def never_joined(self):
        return []


@dataclass(frozen=True)
class FakeBackend:
    name: str = "fake"
    summary: str = "a LiveCluster without processes"
    capabilities: frozenset = field(default_factory=lambda: frozenset({Capability.RAY}))

    def start(self, plan, options):
        def diagnose(dest: Path) -> None:
            (dest / "fake-diagnostics.txt").write_text("what the backend saw")

        return LiveCluster("fake", {}, [], [], {"up": 0.0}, NoServe.dashboard_url, NoServe(), lambda: 0,
                           diagnoser=diagnose)


BACKEND = FakeBackend()
"""

SUITE = """
import pytest

@pytest.mark.ray
def test_needs_ray(live_cluster):
    assert live_cluster.backend == "fake"

@pytest.mark.kube_api
def test_needs_kube_api():
    raise AssertionError("must have been skipped")

@pytest.mark.real_pods
def test_needs_real_pods():
    raise AssertionError("must have been skipped")

def test_fails_on_the_cluster(live_cluster):
    assert False, "the check failed"

def test_skips_itself():
    pytest.skip("nothing to check here")
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # The subprocess imports this checkout's gpuconf, whatever the venv has installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(fakebackend=FAKE_BACKEND)
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "test_suite.py").write_text(SUITE)
    return pytester


def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess(
        "suites",
        "--backend=fake",
        f"--manifests={ROOT / 'manifests'}",
        "--report-dir=reports",
        "-rs",
        "-p",
        "no:cacheprovider",
        *args,
    )


def test_capability_skip_names_what_is_missing(project: pytest.Pytester) -> None:
    """A check marked with a capability the backend lacks skips, saying which and what the backend has."""
    result = _run(project)
    result.assert_outcomes(passed=1, failed=1, skipped=3)
    result.stdout.fnmatch_lines(
        [
            "*test_needs_kube_api*needs kube_api, a Kubernetes API server*the fake backend does not provide it (it provides: ray)*",
            "*test_needs_real_pods*needs real_pods, real containers*the fake backend does not provide it*",
        ]
    )


def test_unknown_backend_is_refused_with_the_known_names(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("suites", "--backend=nope", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid choice: 'nope'*'embedded'*'fake'*"])


def test_strict_fails_every_skipped_conformance_check(project: pytest.Pytester) -> None:
    """--strict: a skip under suites/ (capability or the check's own) fails with the skip's reason
    (a capability skip happens at setup, so it reads as an error there)."""
    result = _run(project, "--strict")
    result.assert_outcomes(passed=1, failed=2, errors=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*--strict: a conformance check may not be skipped*needs kube_api*",
            "*--strict: a conformance check may not be skipped*nothing to check here*",
        ]
    )


def test_a_failing_check_gets_the_backends_diagnostics(project: pytest.Pytester) -> None:
    """The backend's diagnose() writes into reports/<test id>/, and the report points there."""
    _run(project)
    dest = project.path / "reports" / "suites_test_suite.py_test_fails_on_the_cluster"
    assert (dest / "fake-diagnostics.txt").read_text() == "what the backend saw"
    assert not (project.path / "reports" / "suites_test_suite.py_test_needs_ray").exists()  # passed: nothing
    conformance = json.loads((project.path / "reports" / "conformance.json").read_text())
    failed = [c for c in conformance["checks"] if c["id"].endswith("test_fails_on_the_cluster")]
    assert failed and str(dest.relative_to(project.path)) in json.dumps(failed[0])
