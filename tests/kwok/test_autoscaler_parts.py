"""The parts of the kwok backend's autoscaler that need no control plane.

How the head pod's autoscaler container becomes a local command (Kubernetes' `$(VAR)` expansion,
downward-API env, KubeRay's `/bin/bash -lc --` wrapper), the private mount of the service-account
files, and the autoscaled-pod fidelity comparison failing on pods that differ from the model.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gpuconf.backends.kwok.autoscaler import AutoscalerError, autoscaler_argv, container_env, expand
from gpuconf.backends.kwok.fidelity import compare_autoscaled
from gpuconf.backends.kwok.podmount import SA_DIR
from gpuconf.model.kuberay import cluster_groups
from gpuconf.model.plan import Plan
from gpuconf.static.check import run_check

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "autoscaling"

# The autoscaler container as KubeRay v1.5.0 builds it (common/pod.go, BuildAutoscalerContainer).
SIDECAR: dict[str, Any] = {
    "name": "autoscaler",
    "command": ["/bin/bash", "-lc", "--"],
    "args": ["ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"],
    "env": [
        {"name": "RAY_CLUSTER_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}}},
        {"name": "RAY_CLUSTER_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "RAY_HEAD_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "KUBERAY_CRD_VER", "value": "v1"},
    ],
}
HEAD_POD: dict[str, Any] = {
    "metadata": {"name": "c-head-x1", "namespace": "ns1", "labels": {"ray.io/cluster": "c"}},
    "spec": {"containers": [{"name": "ray-head"}, SIDECAR], "serviceAccountName": "c"},
}


def test_kubernetes_var_expansion() -> None:
    env = {"A": "x", "B": "y"}
    assert expand("$(A)-$(B)", env) == "x-y"
    assert expand("$$(A)", env) == "$(A)"  # `$$` escapes, as the kubelet does
    assert expand("$(NOPE) $A", env) == "$(NOPE) $A"  # unknown and shell-style references stay


def test_sidecar_env_resolves_the_downward_api_and_skips_secrets() -> None:
    container = copy.deepcopy(SIDECAR)
    container["env"].append({"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}})
    env, skipped = container_env(HEAD_POD, container)
    assert env == {
        "RAY_CLUSTER_NAME": "c",
        "RAY_CLUSTER_NAMESPACE": "ns1",
        "RAY_HEAD_POD_NAME": "c-head-x1",
        "KUBERAY_CRD_VER": "v1",
    }
    assert skipped == ["TOKEN (secretKeyRef)"]


def test_sidecar_command_is_the_venvs_ray_with_the_local_gcs() -> None:
    env, _ = container_env(HEAD_POD, SIDECAR)
    argv = autoscaler_argv(SIDECAR, env, "127.0.0.1:6380")
    assert argv == [
        str(Path(sys.executable).with_name("ray")),
        "kuberay-autoscaler",
        "--cluster-name",
        "c",
        "--cluster-namespace",
        "ns1",
        "--gcs-address=127.0.0.1:6380",
    ]


def test_a_sidecar_that_is_not_rays_autoscaler_is_refused() -> None:
    other = {**SIDECAR, "args": ["my-own-autoscaler --fast"]}
    with pytest.raises(AutoscalerError, match="not `ray kuberay-autoscaler"):
        autoscaler_argv(other, {}, "127.0.0.1:1")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare(1)")
def test_service_account_files_exist_only_in_the_private_mount_namespace(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-123")
    host_token = SA_DIR / "token"
    before = host_token.read_text() if host_token.exists() else None
    cmd = [sys.executable, "-m", "gpuconf.backends.kwok.podmount", str(tmp_path), "--"]
    inside = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", *cmd, "cat", str(host_token)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (inside.returncode, inside.stdout) == (0, "tok-123"), inside.stderr
    after = host_token.read_text() if host_token.exists() else None
    assert after == before  # the host's /var/run is untouched
    # Read-only, as a projected volume is.
    write = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", *cmd, "sh", "-c", f"echo x > {host_token}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert write.returncode != 0 and "Read-only" in write.stderr
    # Outside a namespace of its own it refuses rather than mount over the host's /run.
    refused = subprocess.run([*cmd, "true"], capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0 and "not in a mount namespace of its own" in refused.stderr


@pytest.fixture(scope="module")
def plan() -> Plan:
    """The scale-from-zero fixture's plan."""
    return run_check(
        [FIXTURE], nodes=[ROOT / "manifests" / "nodes"], expect=ROOT / "manifests" / "expectations.yaml"
    ).plans[0]


def _pod_as_kuberay_makes_it(plan: Plan, namespace: str) -> dict[str, Any]:
    """A worker pod of the model's autoscaled gpu-workers pod, in the API's shape (what the operator made on kwok)."""
    group = next(
        g
        for g in cluster_groups(plan.target.cluster.spec, plan.target.cluster.name, namespace)
        if g.name == "gpu-workers"
    )
    spec = copy.deepcopy(group.template["spec"])
    spec["containers"][0]["env"] = [{"name": "KUBERAY_GEN_RAY_START_CMD", "value": group.command}]
    spec["tolerations"] = [
        *spec.get("tolerations", []),
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    spec["nodeName"] = "gpu-node-1"
    labels = {**group.template["metadata"]["labels"], "ray.io/group": "gpu-workers", "ray.io/node-type": "worker"}
    return {"metadata": {"name": "scale-cluster-gpu-workers-worker-abcde", "labels": labels}, "spec": spec}


def test_autoscaled_fidelity_accepts_the_models_pod(plan: Plan) -> None:
    report = compare_autoscaled(plan, [_pod_as_kuberay_makes_it(plan, "ns1")], "ns1")
    assert report.mismatches == []


@pytest.mark.parametrize(
    ("field", "tamper"),
    [
        ("tolerations", lambda p: p["spec"].update(tolerations=p["spec"]["tolerations"][1:])),
        ("nodeSelector", lambda p: p["spec"].update(nodeSelector={})),
        ("resources", lambda p: p["spec"]["containers"][0]["resources"]["limits"].update({"nvidia.com/gpu": 2})),
        ("labels", lambda p: p["metadata"]["labels"].pop("app.kubernetes.io/component")),
        ("node", lambda p: p["spec"].update(nodeName=None)),
        (
            "ray_start.resources",
            lambda p: p["spec"]["containers"][0]["env"][0].update(
                value=p["spec"]["containers"][0]["env"][0]["value"].replace("--num-gpus=1 ", "")
            ),
        ),
    ],
)
def test_autoscaled_fidelity_names_the_field_that_differs(plan: Plan, field: str, tamper: Any) -> None:
    pod = _pod_as_kuberay_makes_it(plan, "ns1")
    tamper(pod)
    fields = [m.field for m in compare_autoscaled(plan, [pod], "ns1").mismatches]
    assert f"gpu-workers/scale-cluster-gpu-workers-worker-abcde.{field}" in fields, fields


def test_more_autoscaled_pods_than_maxreplicas_allows_is_a_mismatch(plan: Plan) -> None:
    pods = [_pod_as_kuberay_makes_it(plan, "ns1"), _pod_as_kuberay_makes_it(plan, "ns1")]
    fields = [m.field for m in compare_autoscaled(plan, pods, "ns1").mismatches]
    assert "gpu-workers.autoscaled_count" in fields


def test_a_pending_autoscaled_pod_is_compared_by_the_schedulers_reason(plan: Plan, tmp_path: Path) -> None:
    """A pod the model leaves Pending must be refused for the model's reason, not another."""
    folder = tmp_path / "untolerated"
    shutil.copytree(FIXTURE, folder)
    text = (folder / "raycluster.yaml").read_text()
    start = text.index("          tolerations:")
    end = text.index("          containers:", start)
    (folder / "raycluster.yaml").write_text(text[:start] + text[end:])
    pending_plan = run_check(
        [folder], nodes=[ROOT / "manifests" / "nodes"], expect=ROOT / "manifests" / "expectations.yaml"
    ).plans[0]
    pod = _pod_as_kuberay_makes_it(pending_plan, "ns1")
    pod["spec"]["nodeName"] = None
    name = pod["metadata"]["name"]
    model = next(p for p in pending_plan.pods if p.autoscaled)
    same = compare_autoscaled(pending_plan, [pod], "ns1", {name: model.pending_message})
    assert same.mismatches == []
    other = compare_autoscaled(pending_plan, [pod], "ns1", {name: "0/2 nodes are available: 2 Insufficient cpu."})
    assert [m.field for m in other.mismatches] == [f"gpu-workers/{name}.pending.reason"]
