"""manifests/rbac on a real API server: the least-privileged account can run the suite, and no more.

Every object of manifests/rbac except the Job is server-side applied to the kwok control plane
under names unique to this run (the namespace, the ClusterRoles and the bindings get a random
suffix, so parallel runs and a real gpuconf-system never clash). The tests then act AS the
ServiceAccount, with a token minted for it: preflight passes, the suite's own operations are
allowed, anything else is refused, node labelling needs the opt-in binding, and without the
binding preflight fails with exit 14. The Job is checked with a server-side dry run.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from gpuconf.inputs.expectations import Expectations
from gpuconf.kube.client import APPLY, RAY_GROUP, RAY_VERSION, RAYCLUSTERS, KubeClient
from gpuconf.kube.names import MANAGED_BY, RUN_LABEL, new_run_id, run_labels
from gpuconf.kube.preflight import EXIT_RBAC, exit_code, run_preflight
from gpuconf.static.check import run_check
from gpuconf.waits import wait_until

pytestmark = pytest.mark.local_control_plane
ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "manifests" / "rbac"
SA_NAMESPACE, SA_NAME = "gpuconf-system", "gpuconf"
FIELD_MANAGER = "gpuconf-tests"


@dataclass
class Applied:
    """What this module applied, under its per-run names, and the ServiceAccount's own kubeconfig."""

    admin: KubeClient
    dyn: DynamicClient
    objects: dict[tuple[str, str], dict[str, Any]]  # (kind, original name) -> object as applied
    namespace: str
    sa_kubeconfig: str
    run: str

    def obj(self, kind: str, name: str) -> dict[str, Any]:
        """The applied object that manifests/rbac calls `kind`/`name`."""
        return self.objects[(kind, name)]

    def apply(self, body: dict[str, Any]) -> None:
        """Server-side apply one object, as the admin."""
        resource = self.dyn.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        self.dyn.server_side_apply(resource, body=body, field_manager=FIELD_MANAGER, force_conflicts=True)

    def delete(self, body: dict[str, Any]) -> None:
        """Delete one applied object, as the admin (already gone is fine)."""
        resource = self.dyn.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        try:
            resource.delete(name=body["metadata"]["name"], namespace=body["metadata"].get("namespace"))
        except ApiException as exc:
            if exc.status != 404:
                raise


def renamed(docs: list[dict[str, Any]], suffix: str, run: str) -> list[dict[str, Any]]:
    """The manifests with this run's names: gpuconf-system and every cluster-scoped name get `suffix`.

    Every reference follows (object namespace, binding roleRef and subject namespace), and every
    object gets the run's labels, so `gpuconf cleanup` can find what a killed run left.
    """
    namespace = f"gpuconf-rbac-{suffix}"
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    out = []
    for doc in copy.deepcopy(docs):
        meta = doc["metadata"]
        if doc["kind"] == "Namespace":
            meta["name"] = namespace
        elif doc["kind"] in cluster_scoped:
            meta["name"] = f"{meta['name']}-{suffix}"
        if meta.get("namespace") == SA_NAMESPACE:
            meta["namespace"] = namespace
        if doc["kind"] == "ClusterRoleBinding":
            doc["roleRef"]["name"] = f"{doc['roleRef']['name']}-{suffix}"
            for subject in doc["subjects"]:
                subject["namespace"] = namespace
        meta["labels"] = {**meta.get("labels", {}), **run_labels(run)}
        out.append(doc)
    return out


def load(name: str) -> list[dict[str, Any]]:
    """The objects of manifests/rbac/<name>."""
    return [d for d in yaml.safe_load_all((RBAC / name).read_text()) if d]


def token_kubeconfig(admin: KubeClient, namespace: str, account: str, path: Path) -> str:
    """Write a kubeconfig that authenticates as `account` (a freshly minted token); return its path."""
    token = admin.core.create_namespaced_service_account_token(
        account, namespace, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    ).status.token
    cluster = yaml.safe_load(Path(admin.kubeconfig).read_text())["clusters"][0]["cluster"]
    if "certificate-authority" in cluster and "certificate-authority-data" not in cluster:
        ca = Path(cluster["certificate-authority"]).read_bytes()  # inline: the file may be relative
        cluster = {"server": cluster["server"], "certificate-authority-data": base64.b64encode(ca).decode()}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "sa",
                "clusters": [{"name": "kwok", "cluster": cluster}],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": "kwok", "user": account}}],
            }
        )
    )
    return str(path)


@pytest.fixture(scope="module")
def expectations() -> Expectations:
    """The shipped expectations (the GPU node selector preflight looks for)."""
    return run_check([ROOT / "manifests"]).plans[0].expectations


@pytest.fixture(scope="module")
def applied(kube: KubeClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    """serviceaccount.yaml, clusterrole.yaml, clusterrolebinding.yaml applied; the opt-in binding NOT."""
    run = new_run_id()
    suffix = secrets.token_hex(3)
    originals = [
        d
        for name in (
            "serviceaccount.yaml",
            "clusterrole.yaml",
            "clusterrolebinding.yaml",
            "clusterrolebinding-label-nodes.yaml",
        )
        for d in load(name)
    ]
    objects = {
        (o["kind"], o["metadata"]["name"]): r for o, r in zip(originals, renamed(originals, suffix, run), strict=False)
    }
    state = Applied(kube, DynamicClient(kube.api), objects, f"gpuconf-rbac-{suffix}", "", run)
    try:
        for (kind, name), body in objects.items():
            if (kind, name) != ("ClusterRoleBinding", "gpuconf-label-nodes"):  # opt-in: its own test
                state.apply(body)
        state.sa_kubeconfig = token_kubeconfig(
            kube, state.namespace, SA_NAME, tmp_path_factory.mktemp("sa") / "kubeconfig"
        )
        yield state
    finally:
        # Cluster-scoped objects first (they outlive the namespace), then the namespace with the SA.
        for kind in ("ClusterRoleBinding", "ClusterRole", "ServiceAccount", "Namespace"):
            for (k, _), body in objects.items():
                if k == kind:
                    state.delete(body)


def preflight_settles(kubeconfig: str, expectations: Expectations, want_ok: bool) -> list[Any]:
    """run_preflight until its rbac check reads `want_ok` (the authorizer's RBAC cache lags a write)."""

    def probe() -> list[Any] | None:
        results = run_preflight(kubeconfig, expectations)
        rbac = next((r for r in results if r.check == "rbac"), None)
        return results if rbac is not None and rbac.ok == want_ok else None

    return wait_until(probe, f"preflight's rbac check to be {'ok' if want_ok else 'refused'}", interval=0.5)


def test_the_service_account_passes_the_whole_preflight(applied: Applied, expectations: Expectations) -> None:
    """With only the ClusterRole gpuconf: every preflight check passes, the permission review included."""
    results = preflight_settles(applied.sa_kubeconfig, expectations, want_ok=True)
    assert exit_code(results) == 0, [r.message for r in results if not r.ok]
    assert [r.check for r in results] == ["reachable", "rbac", "kuberay", "gpu-nodes", "gpu-allocatable"]


def test_the_service_account_can_do_the_suites_work_and_nothing_else(applied: Applied) -> None:
    """The operations of a run succeed AS the account; secrets, node patches and RBAC writes are refused."""
    preflight_settles(applied.sa_kubeconfig, run_check([ROOT / "manifests"]).plans[0].expectations, want_ok=True)
    sa = KubeClient(applied.sa_kubeconfig)
    ns = sa.create_namespace(f"gpuconf-rbac-run-{secrets.token_hex(3)}", applied.run)
    try:
        assert sa.namespace_exists(ns)
        assert ns in [
            n.metadata.name
            for n in sa.core.list_namespace(
                label_selector=f"{MANAGED_BY[0]}={MANAGED_BY[1]},{RUN_LABEL}={applied.run}"
            ).items
        ]
        # The RayCluster is server-side applied; a dry run checks create+patch without starting pods.
        body = {
            "apiVersion": f"{RAY_GROUP}/{RAY_VERSION}",
            "kind": "RayCluster",
            "metadata": {"name": "probe"},
            "spec": yaml.safe_load((ROOT / "manifests" / "raycluster.yaml").read_text())["spec"],
        }
        # (Raw response: the client deserializes only a 200, and an apply that creates answers 201.)
        resp = sa.custom.patch_namespaced_custom_object_with_http_info(
            RAY_GROUP,
            RAY_VERSION,
            ns,
            RAYCLUSTERS,
            "probe",
            body,
            field_manager="gpuconf",
            dry_run="All",
            _content_type=APPLY,
            _preload_content=False,
        )
        assert resp.status == 201 and json.loads(resp.data)["metadata"]["name"] == "probe"  # created
        assert sa.custom.list_namespaced_custom_object(RAY_GROUP, RAY_VERSION, ns, RAYCLUSTERS)["items"] == []
        assert sa.read_raycluster(ns, "probe") is None  # get allowed (404, not 403)
        assert sa.core.list_namespaced_pod(ns).items == [] and sa.events(ns) == []
        node = sa.nodes()[0].name
        sa.core.read_node(node)

        def refused(call: Any) -> int:
            with pytest.raises(ApiException) as exc:
                call()
            return exc.value.status

        assert refused(lambda: sa.core.list_namespaced_secret(ns)) == 403
        assert refused(lambda: sa.core.list_namespaced_config_map(ns)) == 403
        assert (
            refused(
                lambda: sa.core.create_namespaced_pod(
                    ns,
                    {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "x", "image": "x"}]}},
                    dry_run="All",
                )
            )
            == 403
        )
        assert (
            refused(lambda: sa.core.patch_node(node, {"metadata": {"labels": {"gpuconf.io/x": "1"}}}, dry_run="All"))
            == 403
        )
        assert (
            refused(
                lambda: client.RbacAuthorizationV1Api(sa.api).create_cluster_role_binding(
                    {
                        "metadata": {"name": f"gpuconf-escalate-{secrets.token_hex(3)}"},
                        "roleRef": {
                            "apiGroup": "rbac.authorization.k8s.io",
                            "kind": "ClusterRole",
                            "name": "cluster-admin",
                        },
                        "subjects": [{"kind": "ServiceAccount", "name": SA_NAME, "namespace": applied.namespace}],
                    },
                    dry_run="All",
                )
            )
            == 403
        )
    finally:
        sa.delete_namespace(ns)  # as the account: delete is part of its role (a 403 would raise here)
    try:  # deleted: terminating (its finalizers run in the background) or already gone
        assert applied.admin.core.read_namespace(ns).status.phase == "Terminating"
    except ApiException as exc:
        assert exc.status == 404


def test_node_labelling_needs_the_opt_in_binding(applied: Applied) -> None:
    """Patching a node is refused until clusterrolebinding-label-nodes.yaml is applied, and again after."""
    sa = KubeClient(applied.sa_kubeconfig)
    node = applied.admin.nodes()[0].name
    patch = {"metadata": {"labels": {"gpuconf.io/rbac-test": "1"}}}

    def may_patch() -> bool:
        try:  # a dry run: authorized and admitted like a real patch, but the shared node is unchanged
            sa.core.patch_node(node, patch, dry_run="All")
            return True
        except ApiException as exc:
            if exc.status != 403:
                raise
            return False

    binding = applied.obj("ClusterRoleBinding", "gpuconf-label-nodes")
    assert not may_patch()
    applied.apply(binding)
    try:
        wait_until(lambda: may_patch() or None, "node patch to be allowed by the opt-in binding", interval=0.5)
    finally:
        applied.delete(binding)
    wait_until(lambda: (not may_patch()) or None, "node patch to be refused again", interval=0.5)
    assert "gpuconf.io/rbac-test" not in (applied.admin.core.read_node(node).metadata.labels or {})


def test_without_the_binding_preflight_fails_with_exit_14(applied: Applied, expectations: Expectations) -> None:
    """Delete the ClusterRoleBinding: the same identity now fails preflight's rbac check, naming what lacks."""
    binding = applied.obj("ClusterRoleBinding", "gpuconf")
    applied.delete(binding)
    try:
        results = preflight_settles(applied.sa_kubeconfig, expectations, want_ok=False)
        rbac = next(r for r in results if r.check == "rbac")
        assert rbac.exit_code == EXIT_RBAC and exit_code(results) == EXIT_RBAC
        assert "create namespaces" in rbac.message and "patch rayclusters.ray.io" in rbac.message
    finally:
        applied.apply(binding)  # the other tests of the module may run after this one


def test_the_api_server_accepts_the_job(applied: Applied) -> None:
    """job.yaml passes a server-side dry run, and its pod passes the namespace's restricted Pod Security."""
    (job,) = renamed(load("job.yaml"), applied.namespace.removeprefix("gpuconf-rbac-"), applied.run)
    assert job["metadata"]["namespace"] == applied.namespace
    jobs = applied.dyn.resources.get(api_version="batch/v1", kind="Job")
    accepted = jobs.create(body=job, namespace=applied.namespace, dry_run="All")
    assert accepted.spec.template.spec.serviceAccountName == SA_NAME
    assert accepted.spec.backoffLimit == 0
    # Pod Security admission enforces on pods, not Jobs: dry-run the pod the Job controller would
    # create. Admission also checks that the ServiceAccount exists.
    namespace = applied.admin.core.read_namespace(applied.namespace)
    assert namespace.metadata.labels.get("pod-security.kubernetes.io/enforce") == "restricted"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "gpuconf-conformance-dry-run"},
        "spec": job["spec"]["template"]["spec"],
    }
    created = applied.admin.core.create_namespaced_pod(applied.namespace, pod, dry_run="All")
    assert created.spec.service_account_name == SA_NAME
    insecure = copy.deepcopy(pod)
    insecure["spec"]["securityContext"] = {}
    with pytest.raises(ApiException) as exc:  # the namespace label really enforces
        applied.admin.core.create_namespaced_pod(applied.namespace, insecure, dry_run="All")
    assert exc.value.status == 403 and "restricted" in exc.value.body
