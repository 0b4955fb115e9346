"""What the suite may do in a cluster, and the per-run grant that reaches workloads.

Cluster-wide (ClusterRole `gpuconf`, manifests/rbac/clusterrole.yaml) is only what cannot be
namespaced: namespaces, the run's RoleBinding, reading nodes and CRDs, self reviews. Everything
that reaches workloads (RayClusters, pods, logs, exec, port-forward) is in the ClusterRole
`gpuconf-run`, which each run binds to itself inside the namespace it has just created
(`bind_run_role`); the binding goes with the namespace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpuconf.kube.names import run_labels
from gpuconf.waits import wait_until

if TYPE_CHECKING:
    from kubernetes import client

    from gpuconf.kube.client import KubeClient
# (the kubernetes client is imported where it is used: `gpuconf check` never needs it)

RBAC_GROUP = "rbac.authorization.k8s.io"
RUN_ROLE = "gpuconf-run"  # the ClusterRole each run binds in its namespace
RUN_BINDING = "gpuconf-run"  # the RoleBinding's name in that namespace
Access = tuple[str, str, str]  # (API group, resource[/subresource], verb)

# Cluster-wide: (API group, resource, verb). Exec and port-forward are not here: they are RUN_ACCESS.
CLUSTER_ACCESS: tuple[Access, ...] = (
    ("", "namespaces", "create"),
    ("", "namespaces", "delete"),
    ("", "namespaces", "get"),
    ("", "namespaces", "list"),
    # namespaced in the API, but the namespace is new: only a cluster-wide grant can allow it
    (RBAC_GROUP, "rolebindings", "create"),
    ("", "nodes", "list"),
    ("", "nodes", "get"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "get"),
    ("authorization.k8s.io", "selfsubjectaccessreviews", "create"),
    ("authentication.k8s.io", "selfsubjectreviews", "create"),
)
# Cluster-wide, on one named object: `bind` on gpuconf-run lets the run's RoleBinding name it
# without holding its permissions beforehand (RBAC's escalation check), and no other role.
NAMED_ACCESS: tuple[tuple[str, str, str, str], ...] = ((RBAC_GROUP, "clusterroles", "bind", RUN_ROLE),)
# In the run's namespace only, through the RoleBinding to gpuconf-run.
# Exec and port-forward go over WebSockets: up to Kubernetes 1.34 the API server authorizes them
# as `get`, from 1.35 as `get` and `create` (kubernetes/kubernetes#134577), so both are needed.
RUN_ACCESS: tuple[Access, ...] = (
    ("ray.io", "rayclusters", "create"),
    ("ray.io", "rayclusters", "patch"),
    ("ray.io", "rayclusters", "get"),
    ("ray.io", "rayclusters", "list"),
    ("ray.io", "rayclusters", "delete"),
    ("", "pods", "list"),
    ("", "pods", "get"),
    ("", "pods/log", "get"),
    ("", "pods/exec", "create"),
    ("", "pods/exec", "get"),
    ("", "pods/portforward", "create"),
    ("", "pods/portforward", "get"),
    ("", "events", "list"),
)


def describe(group: str, resource: str, verb: str, name: str = "") -> str:
    """`verb resource.group[/name]`, as preflight and the run name a missing permission."""
    return f"{verb} {resource}" + (f".{group}" if group else "") + (f"/{name}" if name else "")


def allowed(
    authz: Any,
    group: str,
    resource: str,
    verb: str,
    namespace: str | None = None,
    name: str | None = None,
    timeout: float = 15.0,
) -> bool:
    """A SelfSubjectAccessReview: may these credentials do `verb` on `resource` (in `namespace`)?"""
    from kubernetes import client

    sub = resource.split("/", 1)
    attrs = client.V1ResourceAttributes(
        group=group,
        resource=sub[0],
        subresource=sub[1] if len(sub) > 1 else None,
        verb=verb,
        namespace=namespace,
        name=name,
    )
    review = authz.create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs)),
        _request_timeout=timeout,
    )
    return bool(review.status.allowed)


def whoami(kube: KubeClient) -> str:
    """The username the API server sees for these credentials (a SelfSubjectReview)."""
    from kubernetes import client

    review = client.AuthenticationV1Api(kube.api).create_self_subject_review(
        client.V1SelfSubjectReview(), _request_timeout=kube.timeout
    )
    user = review.status.user_info if review.status else None
    if user is None or not user.username:
        raise RuntimeError(f"the API server did not say who these credentials are: {review.status!r}")
    return str(user.username)


def subject_for(username: str) -> client.RbacV1Subject:
    """The RBAC subject of a username: a ServiceAccount for `system:serviceaccount:NS:NAME`, else a User."""
    from kubernetes import client

    parts = username.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        return client.RbacV1Subject(kind="ServiceAccount", name=parts[3], namespace=parts[2])
    return client.RbacV1Subject(kind="User", name=username, api_group=RBAC_GROUP)


def bind_run_role(kube: KubeClient, namespace: str, run_id: str) -> client.V1RoleBinding:
    """Bind the ClusterRole gpuconf-run to these credentials inside the run's `namespace`.

    Created right after the namespace and deleted with it. For an admin the binding is
    redundant but harmless; for the suite's ServiceAccount it is what grants RUN_ACCESS.
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    body = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=RUN_BINDING, namespace=namespace, labels=run_labels(run_id)),
        role_ref=client.V1RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name=RUN_ROLE),
        subjects=[subject_for(whoami(kube))],
    )
    try:
        return client.RbacAuthorizationV1Api(kube.api).create_namespaced_role_binding(
            namespace, body, _request_timeout=kube.timeout
        )
    except ApiException as exc:
        if exc.status == 403:  # an environment failure that says which grant is missing
            from gpuconf.errors import EXIT_RBAC, EnvironmentFailure

            raise EnvironmentFailure(
                f"may not bind the ClusterRole {RUN_ROLE} in {namespace}: {exc.status} {exc.reason}: "
                f"{str(exc.body or '')[:300]}; apply manifests/rbac (clusterrole.yaml grants `bind` on {RUN_ROLE})",
                exit_code=EXIT_RBAC,
            ) from None
        raise


def missing_run_access(kube: KubeClient, namespace: str) -> list[str]:
    """The RUN_ACCESS permissions these credentials still lack in `namespace`."""
    from kubernetes import client

    authz = client.AuthorizationV1Api(kube.api)
    return [describe(g, r, v) for g, r, v in RUN_ACCESS if not allowed(authz, g, r, v, namespace, timeout=kube.timeout)]


def wait_for_run_access(kube: KubeClient, namespace: str, tier: str = "kube") -> None:
    """Until the run's RoleBinding takes effect (the authorizer's cache lags a write).

    The timeout names what is still missing: most often the ClusterRole gpuconf-run is not applied.
    """
    wait_until(
        lambda: _Missing(missing_run_access(kube, namespace)),
        f"the RoleBinding {RUN_BINDING} in {namespace} to grant the run's permissions "
        f"(is the ClusterRole {RUN_ROLE} of manifests/rbac/clusterrole.yaml applied?)",
        tier=tier,
        interval=0.5,
    )


class _Missing:
    """Permissions still missing: true (the wait is over) when there are none; its repr names them."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing

    def __bool__(self) -> bool:
        return not self.missing

    def __repr__(self) -> str:
        return "still missing: " + ", ".join(self.missing)
