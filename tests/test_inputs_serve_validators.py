"""Ray Serve's own validators run at check time (gpuconf.inputs.serve_validators): bad configs are exit 2 at their line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gpuconf.cli import main
from gpuconf.inputs import serve_validators

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"

# (case, old text, new text, line of the error, words of Ray's message)
CASES = [
    ("route-prefix-without-slash", "route_prefix: /ml", "route_prefix: ml", 10, "must start with a forward slash"),
    (
        "num-replicas-beside-autoscaling",
        "num_replicas: 1\n",
        "num_replicas: 2\n        autoscaling_config: {min_replicas: 1, max_replicas: 2}\n",
        14,
        "num_replicas is not allowed when autoscaling_config",
    ),
    (
        "autoscaling-min-above-max",
        "num_replicas: 1\n",
        "autoscaling_config:\n          min_replicas: 3\n          max_replicas: 1\n",
        15,
        "max_replicas",
    ),
    (
        "import-path-without-module",
        "import_path: entrypoints.ml_entrypoint:build_ml_service",
        "import_path: app",
        9,
        "invalid import path",
    ),
    (
        "duplicate-route-prefix",
        "    deployments:\n",
        "    deployments:\n      - name: X\n  - name: other\n    import_path: m:app\n    route_prefix: /ml\n    deployments:\n",
        17,
        "duplicate applications for route prefix",
    ),
    (
        "label-selector-key",
        "          num_gpus: 1\n",
        '          num_gpus: 1\n          label_selector: {"bad key!": "x"}\n',
        19,
        "Invalid label key",
    ),
    (
        "app-level-host",
        "    route_prefix: /ml\n",
        "    route_prefix: /ml\n    host: 0.0.0.0\n",
        11,
        "Please remove it and set host in the top level",
    ),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("raycluster.yaml", "serve-config.yaml", "expectations.yaml"):
        shutil.copy(MANIFESTS / name, tmp_path / name)
    shutil.copytree(MANIFESTS / "nodes", tmp_path / "nodes")
    return tmp_path


@pytest.mark.parametrize(("case", "old", "new", "line", "says"), CASES, ids=[c[0] for c in CASES])
def test_rays_validators_reject_at_the_line(
    root: Path, capsys: pytest.CaptureFixture[str], case: str, old: str, new: str, line: int, says: str
) -> None:
    """Each config passes the JSON Schema but Ray refuses it: exit 2 with file:line, Ray's message and a fix."""
    serve = root / "serve-config.yaml"
    text = serve.read_text()
    assert text.count(old) == 1
    serve.write_text(text.replace(old, new))
    assert main(["check", "--format", "json", str(root)]) == 2
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["file"].endswith("serve-config.yaml") and err["line"] == line, err
    assert says in err["message"] and "Ray Serve's own validation" in err["message"] and err["fix"]


def test_the_unedited_config_passes_rays_validators(root: Path) -> None:
    """The twin: Ray finds nothing in the shipped config."""
    assert serve_validators.ray_errors(json.loads(json.dumps(_plain(root)))) == []
    assert main(["check", str(root)]) == 0


def test_the_result_is_cached_per_config(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config validated once is not validated with Ray again: its result comes from the cache."""
    monkeypatch.setenv("GPUCONF_CACHE_DIR", str(tmp_path / "cache"))
    config = _plain(root)
    config["applications"][0]["route_prefix"] = "ml"
    first = serve_validators.cached_ray_errors(config)
    assert first and "must start with a forward slash" in first[0][1]

    def no_ray(_: object) -> list[serve_validators.RayError]:
        raise AssertionError("validated with Ray again")

    monkeypatch.setattr(serve_validators, "ray_errors", no_ray)
    assert serve_validators.cached_ray_errors(config) == first


def _plain(root: Path) -> dict[str, object]:
    import yaml

    return dict(yaml.safe_load((root / "serve-config.yaml").read_text()))
