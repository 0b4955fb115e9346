"""manifests/rbac on a real API server: the least-privileged account can run the suite, and no more.

Every object of manifests/rbac except the Job is server-side applied to the kwok control plane
exactly as shipped (the admission policy names the ServiceAccount, and the run binds the
ClusterRole gpuconf-run by name: renaming them would test something else), and removed again at
the end. The tests then act AS the ServiceAccount, with a token minted for it: preflight passes;
the kwok backend's own deploy path (namespace, the run's RoleBinding, RayCluster, waits, reads,
deletion) runs as the account; exec, port-forward, logs and RayClusters are refused outside the
namespaces the account created; the API server's admission policy refuses it the deletion of an
unlabelled namespace, and stops refusing when the policy's binding is removed (so it is the
policy, not RBAC, that holds); node labelling needs the opt-in binding; without the binding
preflight fails with exit 14. The Job is checked with a server-side dry run.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from gpuconf.backends.kwok.backend import apply_target
from gpuconf.errors import EXIT_RBAC
from gpuconf.inputs.expectations import Expectations
from gpuconf.kube.client import APPLY, RAY_GROUP, RAY_VERSION, RAYCLUSTERS, KubeClient
from gpuconf.kube.names import RUN_LABEL, new_run_id, run_labels
from gpuconf.kube.preflight import exit_code, run_preflight
from gpuconf.kube.rbac import RBAC_GROUP, RUN_BINDING, RUN_ROLE
from gpuconf.model.plan import Plan
from gpuconf.static.check import run_check
from gpuconf.waits import wait_until

pytestmark = pytest.mark.local_control_plane
ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "manifests" / "rbac"
SA_NAMESPACE, SA_NAME = "gpuconf-system", "gpuconf"
SA_USER = f"system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"
FIELD_MANAGER = "gpuconf-tests"
APPLIED = (
    "serviceaccount.yaml",
    "clusterrole.yaml",
    "clusterrolebinding.yaml",
    "namespace-policy.yaml",
    "clusterrolebinding-label-nodes.yaml",  # loaded, but applied only by its own test
)
POLICY_MESSAGE = "only namespaces labelled app.kubernetes.io/managed-by=gpuconf"


@dataclass
class Applied:
    """What this module applied, the ServiceAccount's own kubeconfig, and an unlabelled namespace."""

    admin: KubeClient
    dyn: DynamicClient
    objects: dict[tuple[str, str], dict[str, Any]]  # (kind, name) -> object as applied
    sa_kubeconfig: str
    run: str
    other: str  # a namespace the account did not create (no gpuconf label), with a pod in it

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


def load(name: str) -> list[dict[str, Any]]:
    """The objects of manifests/rbac/<name>."""
    return [d for d in yaml.safe_load_all((RBAC / name).read_text()) if d]


def labelled(doc: dict[str, Any], run: str) -> dict[str, Any]:
    """The object with the run's labels added, so `gpuconf cleanup` can find what a killed run left."""
    meta = doc["metadata"]
    return {**doc, "metadata": {**meta, "labels": {**meta.get("labels", {}), RUN_LABEL: run}}}


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


def status_of(call: Callable[[], Any]) -> int:
    """The HTTP status a call ends with (200 when it succeeds)."""
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


def refusal(call: Callable[[], Any]) -> ApiException:
    """The 403 a call must end with."""
    with pytest.raises(ApiException) as exc:
        call()
    assert exc.value.status == 403, exc.value
    return exc.value


@pytest.fixture(scope="module")
def expectations() -> Expectations:
    """The shipped expectations (the GPU node selector preflight looks for)."""
    return run_check([ROOT / "manifests"]).plans[0].expectations


@pytest.fixture(scope="module")
def plan() -> Plan:
    """The shipped RayCluster's plan."""
    return next(p for p in run_check([ROOT / "manifests"]).plans if p.target.name.startswith("RayCluster/"))


@pytest.fixture(scope="module")
def applied(kube: KubeClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    """serviceaccount.yaml, clusterrole.yaml, clusterrolebinding.yaml, namespace-policy.yaml applied."""
    run = new_run_id()
    objects = {(d["kind"], d["metadata"]["name"]): labelled(d, run) for name in APPLIED for d in load(name)}
    other = f"gpuconf-rbac-other-{secrets.token_hex(3)}"  # NOT labelled managed-by=gpuconf
    # A namespace of an earlier run may still be terminating: applying into it would fail.
    wait_until(
        lambda: not kube.namespace_exists(SA_NAMESPACE),
        f"namespace {SA_NAMESPACE} of an earlier run to be gone",
        tier="kube",
        interval=0.5,
    )
    state = Applied(kube, DynamicClient(kube.api), objects, "", run, other)
    try:
        for key, body in objects.items():
            if key != ("ClusterRoleBinding", "gpuconf-label-nodes"):  # opt-in: its own test
                state.apply(body)
        kube.core.create_namespace({"metadata": {"name": other, "labels": {RUN_LABEL: run}}})
        kube.core.create_namespaced_pod(
            other, {"metadata": {"name": "victim"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
        )
        state.sa_kubeconfig = token_kubeconfig(kube, SA_NAMESPACE, SA_NAME, tmp_path_factory.mktemp("sa") / "kc")
        yield state
    finally:
        kube.delete_namespace(other)
        # Cluster-scoped objects first (they outlive the namespace), then the namespace with the SA.
        order = ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy", "ClusterRoleBinding", "ClusterRole")
        for kind in (*order, "ServiceAccount", "Namespace"):
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


def policy_settles(sa: KubeClient, namespace: str, want_refused: bool) -> None:
    """Until a dry-run deletion of `namespace` by the account is refused (or admitted) by the policy.

    The API server loads admission policies from an informer: a write takes a moment to count.
    """

    def probe() -> bool:
        status = status_of(lambda: sa.core.delete_namespace(namespace, dry_run="All", _request_timeout=10))
        return (status == 403) == want_refused

    wait_until(probe, f"the admission policy to {'refuse' if want_refused else 'admit'} deleting {namespace}")


def test_the_api_server_serves_admission_policies(kube: KubeClient) -> None:
    """kube-apiserver 1.34 of the kwok tier serves admissionregistration.k8s.io/v1 policies (on by default)."""
    policies = client.AdmissionregistrationV1Api(kube.api).list_validating_admission_policy().items
    assert "v1" in [v.version for v in client.AdmissionregistrationApi(kube.api).get_api_group().versions]
    assert isinstance(policies, list)


def test_the_service_account_passes_the_whole_preflight(applied: Applied, expectations: Expectations) -> None:
    """With only the ClusterRole gpuconf bound cluster-wide: every preflight check passes."""
    results = preflight_settles(applied.sa_kubeconfig, expectations, want_ok=True)
    assert exit_code(results) == 0, [r.message for r in results if not r.ok]
    assert [r.check for r in results] == ["reachable", "rbac", "kuberay", "gpu-nodes", "gpu-allocatable"]


def test_the_deploy_path_runs_as_the_service_account(applied: Applied, expectations: Expectations, plan: Plan) -> None:
    """The kwok backend's deploy AS the account: namespace, RoleBinding, RayCluster, pods bound, reads, deletion.

    Workload access comes only from the run's RoleBinding: before it the account may not even list
    the pods of its own new namespace.
    """
    preflight_settles(applied.sa_kubeconfig, expectations, want_ok=True)
    sa = KubeClient(applied.sa_kubeconfig)
    authz = client.AuthorizationV1Api(sa.api)
    review = authz.create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(verb="list", resource="pods", namespace="gpuconf-x")
            )
        )
    )
    assert not review.status.allowed, "the account may list pods in a namespace it has no RoleBinding in"
    dep = apply_target(sa, plan, applied.run, suffix="sa")
    try:
        assert dep.pods and all(p.node for p in dep.pods), dep.pending()
        binding = client.RbacAuthorizationV1Api(applied.admin.api).read_namespaced_role_binding(
            RUN_BINDING, dep.namespace
        )
        assert binding.role_ref.kind == "ClusterRole" and binding.role_ref.name == RUN_ROLE
        assert [(s.kind, s.namespace, s.name) for s in binding.subjects] == [("ServiceAccount", SA_NAMESPACE, SA_NAME)]
        assert binding.metadata.labels == run_labels(applied.run)
        # Reads the suite makes (diagnostics, placement) succeed as the account, in its namespace.
        assert sa.read_raycluster(dep.namespace, dep.name) is not None
        dep.refresh()
        head = next(p for p in dep.pods if p.is_head)
        assert sa.events(dep.namespace) is not None
        # exec and port-forward are authorized here: the API server goes on to the pod (not 403).
        for call in (
            lambda: sa.core.connect_post_namespaced_pod_exec("no-such-pod", dep.namespace, command=["true"]),
            lambda: sa.core.connect_get_namespaced_pod_exec("no-such-pod", dep.namespace, command=["true"]),
            lambda: sa.core.connect_get_namespaced_pod_portforward("no-such-pod", dep.namespace, ports="8265"),
            lambda: sa.core.read_namespaced_pod_log("no-such-pod", dep.namespace),
        ):
            assert status_of(call) == 404
        assert sa.core.read_namespaced_pod(head.name, dep.namespace).spec.node_name == head.node
        # What the run does not need stays refused, in its own namespace too.
        refusal(lambda: sa.core.list_namespaced_secret(dep.namespace))
        refusal(lambda: sa.core.list_namespaced_config_map(dep.namespace))
        refusal(
            lambda: sa.core.create_namespaced_pod(
                dep.namespace,
                {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "x", "image": "x"}]}},
                dry_run="All",
            )
        )
    finally:
        dep.teardown(wait=True)  # as the account: its own labelled namespace may be deleted
    assert status_of(lambda: applied.admin.core.read_namespace(dep.namespace)) in (200, 404)
    if applied.admin.namespace_exists(dep.namespace):
        assert applied.admin.core.read_namespace(dep.namespace).status.phase == "Terminating"


def test_workloads_of_other_namespaces_are_refused(applied: Applied) -> None:
    """Exec, port-forward, logs, pods, RayClusters of a namespace the account did not create: all 403.

    And the account cannot widen its reach: a RoleBinding in that namespace is refused by the
    policy, one to another role by RBAC (`bind` is on gpuconf-run alone), one for another subject
    by the policy.
    """
    preflight_settles(applied.sa_kubeconfig, run_check([ROOT / "manifests"]).plans[0].expectations, want_ok=True)
    sa = KubeClient(applied.sa_kubeconfig)
    other = applied.other
    assert applied.admin.core.read_namespaced_pod("victim", other)  # a real pod to aim at
    body = {"apiVersion": f"{RAY_GROUP}/{RAY_VERSION}", "kind": "RayCluster", "metadata": {"name": "x"}, "spec": {}}
    for call in (
        lambda: sa.core.connect_post_namespaced_pod_exec("victim", other, command=["true"], _request_timeout=10),
        lambda: sa.core.connect_get_namespaced_pod_exec("victim", other, command=["true"], _request_timeout=10),
        lambda: sa.core.connect_get_namespaced_pod_portforward("victim", other, ports="8265", _request_timeout=10),
        lambda: sa.core.read_namespaced_pod_log("victim", other, _request_timeout=10),
        lambda: sa.core.list_namespaced_pod(other, _request_timeout=10),
        lambda: sa.core.list_namespaced_event(other, _request_timeout=10),
        lambda: sa.custom.patch_namespaced_custom_object(
            RAY_GROUP,
            RAY_VERSION,
            other,
            RAYCLUSTERS,
            "x",
            body,
            field_manager="gpuconf",
            dry_run="All",
            _content_type=APPLY,
        ),
    ):
        refusal(call)

    rbac = client.RbacAuthorizationV1Api(sa.api)

    def binding(namespace: str, role: str, subject: dict[str, str]) -> Callable[[], Any]:
        return lambda: rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": f"gpuconf-escalate-{secrets.token_hex(3)}"},
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
                "subjects": [subject],
            },
            dry_run="All",
        )

    me = {"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NAMESPACE}
    policy_settles(sa, other, want_refused=True)
    assert POLICY_MESSAGE in refusal(binding(other, RUN_ROLE, me)).body
    own = sa.create_namespace(f"gpuconf-rbac-own-{secrets.token_hex(3)}", applied.run)
    try:
        # Two guards refuse it: RBAC's escalation check (`bind` is on gpuconf-run only) and the policy.
        body = refusal(binding(own, "cluster-admin", me)).body
        assert "may bind only the ClusterRole gpuconf-run" in body or "escalat" in body, body
        assert "only to itself" in refusal(binding(own, RUN_ROLE, {**me, "namespace": "default"})).body
        assert "only to itself" in refusal(binding(own, RUN_ROLE, {"kind": "User", "name": "mallory"})).body
        binding(own, RUN_ROLE, me)()  # what the run does is admitted
        escalate = {
            "metadata": {"name": f"gpuconf-escalate-{secrets.token_hex(3)}"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [me],
        }
        refusal(lambda: rbac.create_cluster_role_binding(escalate, dry_run="All"))
    finally:
        sa.delete_namespace(own)


def test_namespace_deletion_is_limited_to_gpuconf_namespaces(applied: Applied) -> None:
    """The API server refuses the account the deletion (and creation) of unlabelled namespaces.

    RBAC grants `delete namespaces` cluster-wide; it is the admission policy that refuses: with
    its binding removed the same (dry-run) deletion is admitted, and refused again once restored.
    """
    sa = KubeClient(applied.sa_kubeconfig)
    preflight_settles(applied.sa_kubeconfig, run_check([ROOT / "manifests"]).plans[0].expectations, want_ok=True)
    policy_settles(sa, applied.other, want_refused=True)
    denied = refusal(lambda: sa.core.delete_namespace(applied.other, _request_timeout=10))
    assert POLICY_MESSAGE in denied.body and applied.other in denied.body
    assert applied.admin.core.read_namespace(applied.other).status.phase == "Active"
    for name in ("kube-system", "default", SA_NAMESPACE):
        refusal(lambda name=name: sa.core.delete_namespace(name, dry_run="All", _request_timeout=10))
    unlabelled = {"metadata": {"name": f"gpuconf-rbac-bare-{secrets.token_hex(3)}"}}
    assert POLICY_MESSAGE in refusal(lambda: sa.core.create_namespace(unlabelled, dry_run="All")).body

    own = sa.create_namespace(f"gpuconf-rbac-del-{secrets.token_hex(3)}", applied.run)
    sa.delete_namespace(own)  # its own, labelled: admitted
    assert status_of(lambda: applied.admin.core.read_namespace(own)) in (200, 404)

    binding = applied.obj("ValidatingAdmissionPolicyBinding", "gpuconf-own-namespaces")
    applied.delete(binding)
    try:
        policy_settles(sa, applied.other, want_refused=False)  # RBAC alone would allow it
    finally:
        applied.apply(binding)
    policy_settles(sa, applied.other, want_refused=True)
    assert applied.admin.core.read_namespace(applied.other).status.phase == "Active"  # only dry runs got through


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
        assert "create namespaces" in rbac.message and f"bind clusterroles.{RBAC_GROUP}/{RUN_ROLE}" in rbac.message
    finally:
        applied.apply(binding)  # the other tests of the module may run after this one


def test_the_api_server_accepts_the_job(applied: Applied) -> None:
    """job.yaml passes a server-side dry run, and its pod passes the namespace's restricted Pod Security."""
    (job,) = load("job.yaml")
    assert job["metadata"]["namespace"] == SA_NAMESPACE
    jobs = applied.dyn.resources.get(api_version="batch/v1", kind="Job")
    accepted = jobs.create(body=job, namespace=SA_NAMESPACE, dry_run="All")
    assert accepted.spec.template.spec.serviceAccountName == SA_NAME
    assert accepted.spec.backoffLimit == 0
    # Pod Security admission enforces on pods, not Jobs: dry-run the pod the Job controller would
    # create. Admission also checks that the ServiceAccount exists.
    namespace = applied.admin.core.read_namespace(SA_NAMESPACE)
    assert namespace.metadata.labels.get("pod-security.kubernetes.io/enforce") == "restricted"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "gpuconf-conformance-dry-run"},
        "spec": job["spec"]["template"]["spec"],
    }
    created = applied.admin.core.create_namespaced_pod(SA_NAMESPACE, pod, dry_run="All")
    assert created.spec.service_account_name == SA_NAME
    insecure = {**pod, "spec": {**pod["spec"], "securityContext": {}}}
    with pytest.raises(ApiException) as exc:  # the namespace label really enforces
        applied.admin.core.create_namespaced_pod(SA_NAMESPACE, insecure, dry_run="All")
    assert exc.value.status == 403 and "restricted" in exc.value.body
