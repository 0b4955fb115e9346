"""Preflight on the kwok control plane: each environment failure has its own exit code and message."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from gpuconf.errors import EXIT_NO_GPU_NODES, EXIT_NO_KUBERAY, EXIT_RBAC
from gpuconf.inputs.expectations import Expectations
from gpuconf.kube.client import KubeClient
from gpuconf.kube.names import new_run_id
from gpuconf.kube.preflight import KUBERAY_CRDS, exit_code, run_preflight
from gpuconf.static.check import run_check

pytestmark = pytest.mark.local_control_plane
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def expectations() -> Expectations:
    """The shipped expectations."""
    return run_check([ROOT / "manifests"]).plans[0].expectations


def test_preflight_passes_on_the_kwok_cluster(kube: KubeClient, expectations: Expectations) -> None:
    """Admin credentials, KubeRay CRDs, a labelled GPU node with allocatable nvidia.com/gpu: all pass."""
    results = run_preflight(kube.kubeconfig, expectations)
    assert [r.check for r in results] == ["reachable", "rbac", "kuberay", "gpu-nodes", "gpu-allocatable"]
    assert exit_code(results) == 0, [r.message for r in results if not r.ok]


def test_missing_crd_is_an_environment_failure(kube: KubeClient, expectations: Expectations) -> None:
    """A CRD that is not installed: exit 11 with the install command."""
    results = run_preflight(kube.kubeconfig, expectations, crds=(*KUBERAY_CRDS, "rayfoos.gpuconf.invalid"))
    failed = [r for r in results if not r.ok]
    assert exit_code(results) == EXIT_NO_KUBERAY
    assert failed[0].check == "kuberay" and "rayfoos.gpuconf.invalid" in failed[0].message
    assert "helm install kuberay-operator" in failed[0].fix


def test_no_node_matches_the_gpu_selector(kube: KubeClient, expectations: Expectations) -> None:
    """Expectations whose GPU label no node carries: exit 12 with the labelling command."""
    other = Expectations(
        {"gpu-node": "nope"},
        expectations.gpu_resource,
        expectations.gpu_deployments,
        expectations.isolation_zero_gpu,
        expectations.loc,
    )
    results = run_preflight(kube.kubeconfig, other)
    assert exit_code(results) == EXIT_NO_GPU_NODES
    assert "kubectl label node" in next(r for r in results if not r.ok).fix


def test_insufficient_rbac_lists_what_is_missing(kube: KubeClient, expectations: Expectations, tmp_path: Path) -> None:
    """A service account with no role: exit 14, naming the missing verbs."""
    run = new_run_id()
    ns = kube.create_namespace(f"gpuconf-rbac-{run[-8:]}".lower(), run)
    try:
        kube.core.create_namespaced_service_account(
            ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="nobody"))
        )
        token = kube.core.create_namespaced_service_account_token(
            "nobody", ns, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
        ).status.token
        admin = yaml.safe_load(Path(kube.kubeconfig).read_text())
        cluster = admin["clusters"][0]["cluster"]
        if "certificate-authority" in cluster and "certificate-authority-data" not in cluster:
            cluster = {
                "server": cluster["server"],
                "certificate-authority-data": base64.b64encode(
                    Path(cluster["certificate-authority"]).read_bytes()
                ).decode(),
            }
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "sa",
                    "clusters": [{"name": "kwok", "cluster": cluster}],
                    "users": [{"name": "nobody", "user": {"token": token}}],
                    "contexts": [{"name": "sa", "context": {"cluster": "kwok", "user": "nobody"}}],
                }
            )
        )
        results = run_preflight(str(kubeconfig), expectations)
        rbac = next(r for r in results if r.check == "rbac")
        assert not rbac.ok and rbac.exit_code == EXIT_RBAC
        assert (
            "create namespaces" in rbac.message
            and "bind clusterroles.rbac.authorization.k8s.io/gpuconf-run" in rbac.message
        )
    finally:
        kube.delete_namespace(ns)
