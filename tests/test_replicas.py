"""Serve's details read as deployed: every deployment, its options and their source, its replicas.

The details are in the shape of the dashboard's /api/serve/applications/ (Ray 2.60's
ServeInstanceDetails); the prober is a stand-in that answers from a table (no Ray here: the live
path is exercised by suites/placement on every backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gpuconf.live.contract import Observed
from gpuconf.live.observe import PodRecord
from gpuconf.live.replicas import deployments_from_details, observe, targets
from gpuconf.live.serve import DeployFailed, ship_local_working_dirs


def _replica(rid: str, state: str = "RUNNING", node: str = "n-gpu") -> dict[str, Any]:
    return {"replica_id": rid, "state": state, "actor_name": f"SERVE_REPLICA::app#dep#{rid}", "node_id": node, "pid": 7}


DETAILS: dict[str, Any] = {
    "applications": {
        "summarize": {
            "deployments": {
                "SummarizerIngress": {
                    "status": "HEALTHY",
                    "target_num_replicas": 1,
                    "deployment_config": {"ray_actor_options": {"num_cpus": 0.1}, "max_ongoing_requests": 5},
                    "replicas": [_replica("ing1", node="n-cpu")],
                },
                "Summarizer": {
                    "status": "HEALTHY",
                    "target_num_replicas": 2,
                    "deployment_config": {"ray_actor_options": {"num_gpus": 1.0}, "num_replicas": 2},
                    "replicas": [_replica("s1"), _replica("s2", state="STARTING")],
                },
            }
        },
        "embed": {
            "deployments": {
                "Embedder": {
                    "status": "HEALTHY",
                    "target_num_replicas": 0,
                    "deployment_config": {"autoscaling_config": {"min_replicas": 0, "max_replicas": 2}},
                    "replicas": [],
                }
            }
        },
    }
}
CONFIG = {
    "applications": [
        {"name": "summarize", "import_path": "summarizer:app"},
        {
            "name": "embed",
            "import_path": "embedder:app",
            "deployments": [{"name": "Embedder", "autoscaling_config": {}}],
        },
    ]
}


def test_every_deployment_of_every_app_in_serves_order_with_each_options_source() -> None:
    views = deployments_from_details(DETAILS, CONFIG)
    assert [v.key for v in views] == ["summarize/SummarizerIngress", "summarize/Summarizer", "embed/Embedder"]
    ingress, model, embed = views
    assert model.num_gpus == 1.0 and ingress.num_gpus == 0.0
    assert model.sources["ray_actor_options"] == "code"  # set in @serve.deployment: the config lists no deployments
    assert embed.sources["autoscaling_config"] == "config"
    assert [r.replica_id for r in model.running()] == ["s1"]  # a STARTING replica has no process to probe yet
    assert [t["replica_id"] for t in targets(views)] == ["ing1", "s1"]
    assert model.evidence()["options"]["ray_actor_options"] == {"value": {"num_gpus": 1.0}, "from": "code"}


def test_observe_ties_replicas_to_pods_and_names_what_did_not_answer() -> None:
    views = deployments_from_details(DETAILS, CONFIG)
    pods = {"n-gpu": PodRecord("n-gpu", "c-gpu-0", "gpu-node-1", "gpu-workers", False, True, 1.0)}

    def table_prober(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            if row["replica_id"] == "ing1":
                out.append({**row, "error": "the replica's probe gave no answer within 60 s"})
            else:
                out.append({**row, "probe": {"node_id": "n-gpu", "gpu_ids": ["0"]}, "round_trip_ms": 7.0})
        return out

    probes = observe(views, pods, table_prober)
    (obs,) = probes.replicas
    assert (obs.app, obs.deployment, obs.replica_id, obs.pod) == ("summarize", "Summarizer", "s1", pods["n-gpu"])
    assert obs.evidence()["options"]["ray_actor_options"]["from"] == "code"
    assert obs.evidence()["probe_round_trip_ms"] == 7.0
    assert probes.unanswered == {"summarize/SummarizerIngress ing1": "the replica's probe gave no answer within 60 s"}
    observed = Observed(probes.replicas, {}, {v.key: v.target_replicas for v in views}, views, probes.unanswered)
    assert "runs 0 replicas" in observed.missing("embed", "Embedder")  # never "no replica answered"
    assert "none of 1 replica(s) answered" in observed.missing("summarize", "SummarizerIngress")
    assert "not a deployment of the running apps" in observed.missing("summarize", "Nope")


class _Uploads:
    """Records what Ray's upload would be given, and answers as it does (a gcs:// URI in place)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def _upload_working_dir_if_needed(self, runtime_env: dict[str, Any]) -> None:
        self.seen.append(runtime_env["working_dir"])
        runtime_env["working_dir"] = "gcs://_ray_pkg_0123.zip"


def test_a_local_working_dir_is_uploaded_from_the_configs_folder_and_uris_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    config = {
        "applications": [
            {"name": "a", "runtime_env": {"working_dir": "code"}},
            {"name": "b", "runtime_env": {"working_dir": "local:///opt/app"}},
            {"name": "c", "runtime_env": {"working_dir": "s3://bucket/app.zip"}},
            {"name": "d"},
        ]
    }
    client = _Uploads()
    shipped = ship_local_working_dirs(config, client, tmp_path)
    assert client.seen == [str((tmp_path / "code").resolve())]
    assert config["applications"][0]["runtime_env"]["working_dir"] == "gcs://_ray_pkg_0123.zip"
    assert config["applications"][1]["runtime_env"]["working_dir"] == "local:///opt/app"
    assert config["applications"][2]["runtime_env"]["working_dir"] == "s3://bucket/app.zip"
    assert list(shipped) == ["a"]
    with pytest.raises(DeployFailed, match="does not exist"):
        ship_local_working_dirs({"applications": [{"runtime_env": {"working_dir": "gone"}}]}, client, tmp_path)
