"""Pairing the user can predict: only the clusters and Serve configs named are read, and a RayService
passed with a copy of its own Serve config is read once."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gpuconf.cli import main
from tests.test_inputs_catalogue import MANIFESTS, copy_manifest_root


def _check(*args: str) -> tuple[int, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["check", "--format", "json", *args])
    return rc, json.loads(out.getvalue())


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """manifests/ (the shipped root) and my/ (a cluster of the user's own, outside any root)."""
    (tmp_path / "manifests").mkdir()
    copy_manifest_root(tmp_path / "manifests")
    (tmp_path / "my").mkdir()
    text = (MANIFESTS / "raycluster.yaml").read_text(encoding="utf-8").replace("name: ml-cluster", "name: my-cluster")
    (tmp_path / "my" / "raycluster.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_serve_config_named_pairs_with_the_cluster_named_not_the_one_beside_it(tree: Path) -> None:
    """`check my/raycluster.yaml manifests/serve-config.yaml`: the user's cluster gets the Serve config;
    manifests/raycluster.yaml, which lies beside the Serve config but was not named, is not read."""
    rc, data = _check("my/raycluster.yaml", "manifests/serve-config.yaml")
    assert rc in (0, 1, 4), data
    assert [(t["target"], t["serve_config"]) for t in data["targets"]] == [("RayCluster/my-cluster", True)]
    assert {d["deployment"] for d in data["deployments"]} >= {"MLService"}
    # The nodes and expectations still come from the Serve config's folder: the cluster's has none.
    assert not data["defaults_used"]


def test_two_cluster_roots_and_one_serve_config_cannot_be_told_apart(tree: Path) -> None:
    """Two clusters without a Serve config, each in a root of its own, and one Serve config named
    elsewhere: which one it is for is not guessed (exit 2 at the Serve config, with the fix)."""
    other = tree / "other"
    other.mkdir()
    copy_manifest_root(other)
    (other / "serve-config.yaml").unlink()
    (tree / "my" / "expectations.yaml").write_text((MANIFESTS / "expectations.yaml").read_text(), encoding="utf-8")
    shutil.copytree(MANIFESTS / "nodes", tree / "my" / "nodes")
    rc, data = _check("my/raycluster.yaml", "other/raycluster.yaml", "manifests/serve-config.yaml")
    assert rc == 2, data
    err = data["error"]
    assert err["file"] == "manifests/serve-config.yaml" and err["line"] >= 1, err
    assert "cannot tell which RayCluster" in err["message"] and "file or folder of its RayCluster" in err["fix"]


def test_a_serve_config_alone_still_takes_the_cluster_of_its_root(tree: Path) -> None:
    """Named alone, a Serve config overlays the cluster of its manifest root (a regression case)."""
    rc, data = _check("manifests/serve-config.yaml")
    assert rc in (0, 1, 4), data
    assert [t["target"] for t in data["targets"]] == ["RayCluster/ml-cluster"]


def test_a_rayservice_with_a_copy_of_its_serve_config_is_read_once(tree: Path) -> None:
    """rayservice.yaml and serve-config.yaml (the same config as its serveConfigV2): one target, a note."""
    shutil.copy(MANIFESTS / "rayservice.yaml", tree / "manifests" / "rayservice.yaml")
    rc, data = _check("manifests/rayservice.yaml", "manifests/serve-config.yaml")
    assert rc in (0, 1, 4), data
    assert [t["target"] for t in data["targets"]] == ["RayService/ml-service"]
    assert any("read once" in n["message"] and n["file"] == "manifests/serve-config.yaml" for n in data["notices"])


def test_a_rayservice_with_a_different_serve_config_is_still_refused(tree: Path) -> None:
    """A Serve config that is not the RayService's own has no cluster to go with: exit 2 at it."""
    shutil.copy(MANIFESTS / "rayservice.yaml", tree / "manifests" / "rayservice.yaml")
    serve = tree / "manifests" / "serve-config.yaml"
    serve.write_text(serve.read_text().replace("num_replicas: 1", "num_replicas: 2", 1), encoding="utf-8")
    rc, data = _check("manifests/rayservice.yaml", "manifests/serve-config.yaml")
    assert rc == 2, data
    assert data["error"]["file"] == "manifests/serve-config.yaml" and data["error"]["fix"]
