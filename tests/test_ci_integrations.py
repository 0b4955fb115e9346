"""The pre-commit hook (run by pre-commit itself) and the GitHub Action's run steps, run locally.

Both install gpuconf's lean core with pip from PyPI into a fresh environment (pre-commit's own,
or a venv standing in for the runner's Python): minutes on a cold cache, so they are marked slow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gpuconf.static.changed import folders_to_check
from tests.test_ci_outputs import assert_valid_sarif

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
HEAD_GPU_CASE = MANIFESTS / "regressions" / "head-advertises-gpus.yaml"
GIT = ["git", "-c", "user.name=gpuconf-test", "-c", "user.email=test@gpuconf.invalid", "-c", "commit.gpgsign=false"]


def service_repo(where: Path, broken: bool) -> Path:
    """A user's repository: a manifest root under deploy/ (the head given a GPU when `broken`), and a
    workflow YAML that is no manifest."""
    root = where / "deploy"
    shutil.copytree(MANIFESTS / "nodes", root / "nodes")
    for name in ("expectations.yaml", "serve-config.yaml", "raycluster.yaml"):
        shutil.copy(MANIFESTS / name, root)
    if broken:
        (root / "raycluster.yaml").write_text(HEAD_GPU_CASE.read_text().split("\n", 1)[1])
    (where / ".github" / "workflows").mkdir(parents=True)
    (where / ".github" / "workflows" / "ci.yaml").write_text("on: push\njobs: {}\n")
    return root


def test_changed_files_become_their_folders(tmp_path: Path) -> None:
    """A changed Serve config means its manifest root; a workflow means nothing; a chart file its chart."""
    root = service_repo(tmp_path, broken=False)
    chart = tmp_path / "charts" / "ray"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: ray\nversion: 0.1.0\n")
    (chart / "templates" / "x.yaml").write_text("kind: ConfigMap\n")
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "cluster.yaml").write_text("apiVersion: ray.io/v1\nkind: RayCluster\n")
    (loose / "values.yaml").write_text("replicas: 2\n")
    files = [
        root / "serve-config.yaml",
        root / "nodes" / "gpu-pool.yaml",
        tmp_path / ".github" / "workflows" / "ci.yaml",
        chart / "templates" / "x.yaml",
        loose / "cluster.yaml",
        loose / "values.yaml",
        tmp_path / "deleted.yaml",
    ]
    assert folders_to_check(files) == sorted([root.resolve(), chart.resolve(), loose.resolve()])


def test_changed_with_no_manifest_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Only non-manifest YAML changed: nothing to check, exit 0."""
    from gpuconf.cli import main

    service_repo(tmp_path, broken=True)
    assert main(["check", "--changed", str(tmp_path / ".github" / "workflows" / "ci.yaml")]) == 0
    assert "nothing to check" in capsys.readouterr().out


def test_changed_checks_the_whole_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The Serve config alone changed, the RayCluster beside it is broken: the root is checked, exit 1."""
    from gpuconf.cli import main

    root = service_repo(tmp_path, broken=True)
    assert main(["check", "--changed", str(root / "serve-config.yaml")]) == 1
    assert "error [HEAD-GPU]" in capsys.readouterr().out


@pytest.fixture(scope="module")
def action_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree (tracked and new files, as git would commit them) as a git repository of its
    own: pre-commit clones hook repositories, and pip builds in the source folder."""
    dest = tmp_path_factory.mktemp("gpuconf-repo")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for rel in (p.decode() for p in listed if p):
        if rel.startswith(("tests/fixtures/", "shared/")) or not (REPO / rel).is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest / rel)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "snapshot"], cwd=dest, check=True)
    return dest


def git_repo(path: Path) -> None:
    """`path` as a git repository with everything committed (pre-commit runs in one)."""
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "service"], cwd=path, check=True)


def test_hook_manifest_is_what_pre_commit_expects() -> None:
    """One hook, gpuconf-check, language python, the changed files passed at once to --changed."""
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "gpuconf-check" and hook["language"] == "python"
    assert hook["entry"] == "gpuconf check --changed" and hook["require_serial"] is True
    assert re.search(hook["files"], "deploy/raycluster.yaml") and not re.search(hook["files"], "README.md")


@pytest.mark.slow
def test_pre_commit_runs_the_hook(action_repo: Path, tmp_path: Path) -> None:
    """`pre-commit try-repo REPO gpuconf-check --files ...` in a user's repository: fails on the broken
    RayCluster (HEAD-GPU), passes once fixed; pre-commit pip-installs gpuconf into its own env."""
    user = tmp_path / "user"
    root = service_repo(user, broken=True)
    git_repo(user)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    cmd = [sys.executable, "-m", "pre_commit", "try-repo", str(action_repo), "gpuconf-check", "--verbose", "--files"]
    changed = [str(Path("deploy") / "serve-config.yaml"), ".github/workflows/ci.yaml"]
    failed = subprocess.run([*cmd, *changed], cwd=user, env=env, capture_output=True, text=True, timeout=1200)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "error [HEAD-GPU]" in failed.stdout and "Failed" in failed.stdout
    assert "Ray is not installed" in failed.stdout  # the lean core: pre-commit's env has no Ray
    shutil.copy(MANIFESTS / "raycluster.yaml", root / "raycluster.yaml")
    passed = subprocess.run([*cmd, *changed], cwd=user, env=env, capture_output=True, text=True, timeout=1200)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "verdict: PASS" in passed.stdout


def _run_lines(step: dict, inputs: dict[str, str], outputs: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A composite step's `run:` and `env:` with its ${{ inputs.X }} and ${{ steps.check.outputs.X }} filled in."""

    def fill(text: str) -> str:
        text = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], text)
        return re.sub(r"\$\{\{\s*steps\.check\.outputs\.([\w-]+)\s*\}\}", lambda m: outputs.get(m.group(1), ""), text)

    return fill(step["run"]), {k: fill(str(v)) for k, v in (step.get("env") or {}).items()}


@pytest.mark.slow
def test_the_action_run_steps(action_repo: Path, tmp_path: Path) -> None:
    """action.yml's run steps, in order, with a fresh venv as the runner's Python: the lean core installs
    from the action's folder, the check writes valid SARIF with the finding, the verdict step fails."""
    action = yaml.safe_load((REPO / "action.yml").read_text())
    steps = action["runs"]["steps"]
    uses = [s["uses"] for s in steps if "uses" in s]
    assert uses == ["actions/setup-python@v5", "github/codeql-action/upload-sarif@v3"]
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert "always()" in upload["if"] and upload["with"]["sarif_file"] == "${{ inputs.sarif-file }}"
    venv = tmp_path / "runner-python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    workspace = tmp_path / "workspace"
    service_repo(workspace, broken=True)
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    inputs["paths"] = "deploy"
    github_output = tmp_path / "github_output"
    github_output.touch()
    outputs: dict[str, str] = {}
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "GITHUB_ACTION_PATH": str(action_repo),
        "GITHUB_OUTPUT": str(github_output),
    }
    env.pop("PYTHONPATH", None)
    results = []
    for step in (s for s in steps if "run" in s):
        script, step_env = _run_lines(step, inputs, outputs)
        proc = subprocess.run(
            ["bash", "-c", script], cwd=workspace, env={**env, **step_env}, capture_output=True, text=True, timeout=1200
        )
        results.append(proc)
        outputs = dict(line.split("=", 1) for line in github_output.read_text().splitlines() if "=" in line)
    install, check, verdict = results
    assert install.returncode == 0, install.stdout + install.stderr
    listed = subprocess.run([venv / "bin" / "python", "-m", "pip", "list"], capture_output=True, text=True).stdout
    assert "gpuconf" in listed and not re.search(r"^(ray|torch|kubernetes) ", listed, re.M | re.I)
    assert check.returncode == 0 and outputs == {"exit-code": "1", "sarif-written": "true"}, check.stdout
    assert "error [HEAD-GPU]" in check.stdout
    sarif = json.loads((workspace / inputs["sarif-file"]).read_text())
    assert_valid_sarif(sarif)
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["HEAD-GPU"]
    assert sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "deploy/raycluster.yaml"
    )
    assert verdict.returncode == 1
