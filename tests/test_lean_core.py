"""The lean core: the static tier without Ray, torch or the Kubernetes client.

Also the Serve schema shipped for the pinned Ray, and a key Ray silently ignores inside
`autoscaling_config` (ray-project/ray#61439).
"""

from __future__ import annotations

import importlib.abc
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gpuconf.errors import InputError
from gpuconf.inputs import serve_schema, serve_validators
from gpuconf.static.check import run_check

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
HEAVY = ("ray", "torch", "kubernetes")


def test_the_shipped_schema_is_what_the_pinned_ray_exports() -> None:
    """gpuconf/inputs/data/ holds exactly what the installed (pinned) Ray exports; regenerate it with
    `python -m gpuconf.inputs.serve_schema --write-shipped` when the pin moves."""
    pinned = next(
        line.split("==")[1].strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.startswith("ray[serve]==")
    )
    assert pinned == serve_schema.SHIPPED_RAY_VERSION
    if serve_schema.ray_version() != pinned:
        pytest.skip(f"Ray {pinned} is not installed here (found {serve_schema.ray_version()})")
    shipped = serve_schema.shipped_schema_path().read_text(encoding="utf-8")
    assert shipped == serve_schema.dump(serve_schema.export_schema())
    assert "max_replicas" in json.loads(shipped)[serve_schema.AUTOSCALING_FIELDS_KEY]


def test_the_package_ships_the_schema() -> None:
    """pyproject.toml puts the data file into the wheel; the lean core needs it."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "data/*.json" in config["tool"]["setuptools"]["package-data"]["gpuconf.inputs"]
    deps = " ".join(config["project"]["dependencies"])
    assert not any(h in deps for h in ("ray", "torch", "kubernetes>", "requests", "psutil"))
    assert set(config["project"]["optional-dependencies"]) >= {"live", "bench", "dev"}


def test_a_check_imports_no_ray_torch_or_kubernetes(tmp_path: Path) -> None:
    """`python -X importtime -m gpuconf check manifests`: none of them among the imports (second run:
    the first one validated this Serve config with Ray, when Ray is installed, and cached the result)."""
    env = {**os.environ, "GPUCONF_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-X", "importtime", "-m", "gpuconf", "check", str(MANIFESTS)]
    subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=600, check=False)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "gpuconf" in imported and "yaml" in imported  # the probe sees imports at all
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


class _Block(importlib.abc.MetaPathFinder):
    """Makes the heavy packages unimportable, as in a `pip install gpuconf` without extras."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in HEAVY:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Ray absent: no metadata, no import; a fresh cache folder so nothing is read from earlier runs."""
    monkeypatch.setenv("GPUCONF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(serve_schema, "ray_version", lambda: None)
    monkeypatch.setattr(serve_validators, "ray_version", lambda: None)
    for name in [m for m in sys.modules if m.split(".")[0] in HEAVY]:
        monkeypatch.delitem(sys.modules, name)
    blocker = _Block()
    monkeypatch.setattr(sys, "meta_path", [blocker, *sys.meta_path])
    serve_validators.take_skipped()


def test_without_ray_the_check_runs_and_says_so_once(no_ray: None) -> None:
    """The shipped schema validates; Ray's own validators are named as not run, once; the verdict stands."""
    assert serve_schema.schema_path() == serve_schema.shipped_schema_path()
    result = run_check([MANIFESTS])
    assert result.verdict == "pass"
    said = [str(n) for n in result.notices if "Ray is not installed" in str(n)]
    assert len(said) == 1 and "gpuconf[live]" in said[0]
    assert not any(m.split(".")[0] in HEAVY for m in sys.modules)


def test_without_ray_the_schema_still_catches_unknown_keys(no_ray: None, tmp_path: Path) -> None:
    """`num_gpu` (a typo) is exit 2 from the shipped schema alone."""
    serve = tmp_path / "serve-config.yaml"
    serve.write_text((MANIFESTS / "serve-config.yaml").read_text().replace("num_gpus: 1", "num_gpu: 1"))
    with pytest.raises(InputError, match="unknown Serve config field `num_gpu`"):
        run_check([serve, MANIFESTS / "raycluster.yaml"])


def _serve_with_autoscaling(tmp_path: Path, body: str) -> Path:
    """A copy of the reference manifest root whose Serve config has `body` in place of num_replicas."""
    import shutil

    if not (tmp_path / "nodes").exists():
        shutil.copytree(MANIFESTS / "nodes", tmp_path / "nodes")
        shutil.copy(MANIFESTS / "expectations.yaml", tmp_path)
        shutil.copy(MANIFESTS / "raycluster.yaml", tmp_path)
    text = (MANIFESTS / "serve-config.yaml").read_text().replace("        num_replicas: 1\n", body, 1)
    assert text != (MANIFESTS / "serve-config.yaml").read_text()
    path = tmp_path / "serve-config.yaml"
    path.write_text(text)
    return path


def test_misplaced_key_in_autoscaling_config_is_bad_input(tmp_path: Path) -> None:
    """ray-project/ray#61439: `max_ongoing_requests` inside autoscaling_config is ignored by Ray; here it
    is exit 2 at its line, naming where it belongs."""
    body = "        autoscaling_config:\n          min_replicas: 1\n          max_replicas: 1\n          max_ongoing_requests: 8\n"
    serve = _serve_with_autoscaling(tmp_path, body)
    with pytest.raises(InputError) as exc:
        run_check([serve, MANIFESTS / "raycluster.yaml"])
    lines = serve.read_text().splitlines()
    assert exc.value.loc is not None and "max_ongoing_requests" in lines[exc.value.loc.line - 1]
    assert "ignores it" in exc.value.message
    assert "deployment option (`applications[0].deployments[0].max_ongoing_requests`)" in exc.value.fix


def test_actor_option_and_typo_in_autoscaling_config(tmp_path: Path) -> None:
    """An actor option goes under ray_actor_options; a near miss gets the field it was close to."""
    auto = "        autoscaling_config:\n          min_replicas: 1\n          max_replicas: 1\n"
    with pytest.raises(InputError, match="ray_actor_options"):
        run_check([_serve_with_autoscaling(tmp_path, auto + "          num_gpus: 1\n"), MANIFESTS / "raycluster.yaml"])
    with pytest.raises(InputError) as exc:
        run_check(
            [
                _serve_with_autoscaling(tmp_path, auto + "          target_ongoing_request: 2\n"),
                MANIFESTS / "raycluster.yaml",
            ]
        )
    assert "did you mean `target_ongoing_requests`?" in exc.value.fix


def test_known_autoscaling_keys_pass(tmp_path: Path) -> None:
    """Ray's own fields stay fine (the check does not over-reach)."""
    body = "        autoscaling_config:\n          min_replicas: 1\n          max_replicas: 1\n          target_ongoing_requests: 2\n"
    _serve_with_autoscaling(tmp_path, body)
    assert run_check([tmp_path]).verdict == "pass"
