"""The Kubernetes client layer shared by the kwok and cluster backends (official client, no kubectl).

One `KubeClient` per kubeconfig: a namespace per run, server-side apply of a RayCluster,
reads of its pods, the nodes and the scheduler's FailedScheduling events, and deletion.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import signal
import threading
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from gpuconf.kube.names import MANAGED_BY, run_labels
from gpuconf.kube.objects import NodeInfo, PodInfo, node_info, pod_info
from gpuconf.waits import wait_until

FIELD_MANAGER = "gpuconf"
APPLY = "application/apply-patch+yaml"
RAY_GROUP, RAY_VERSION, RAYCLUSTERS = "ray.io", "v1", "rayclusters"
CLUSTER_LABEL = "ray.io/cluster"


def api_client_for(kubeconfig: str | None, retries: bool = True) -> client.ApiClient:
    """An API client of a kubeconfig file, or of the pod's service account when there is none (in-cluster Job).

    A malformed kubeconfig raises InputError (file:line). `retries=False` turns off urllib3's
    hidden retries, so a request's timeout is the whole time it can take (preflight's budget).
    """
    configuration = client.Configuration()
    if kubeconfig:
        from gpuconf.kube.kubeconfig import read_kubeconfig

        read_kubeconfig(kubeconfig)
        try:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration, persist_config=False)
        except config.ConfigException as exc:  # e.g. a certificate file that is not there
            from gpuconf.errors import InputError, Loc

            raise InputError(
                Loc(kubeconfig, 1),
                f"kubeconfig not usable: {exc}",
                "compare with `kubectl config view --raw` of a working kubeconfig",
            ) from None
    else:
        config.load_incluster_config(client_configuration=configuration)
    if not retries:
        configuration.retries = False
    return client.ApiClient(configuration)


class KubeClient:
    """The API clients of one kubeconfig (None: the in-cluster service account).

    `api`: a client of that kubeconfig already built (the cluster backend passes the one its
    preflight reached the cluster with, so a run builds one); None builds one here.
    """

    def __init__(
        self, kubeconfig: str | None, request_timeout: float = 15.0, api: client.ApiClient | None = None
    ) -> None:
        self.kubeconfig = kubeconfig
        self.api = api if api is not None else api_client_for(kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.timeout = request_timeout

    # -- namespaces ---------------------------------------------------------------------------

    def create_namespace(self, name: str, run_id: str) -> str:
        """Create the run's namespace, labelled so leftovers can be found; return its name."""
        body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=run_labels(run_id)))
        self.core.create_namespace(body, _request_timeout=self.timeout)
        return name

    def delete_namespace(self, name: str, wait: bool = False) -> None:
        """Delete a namespace (already gone is fine); with `wait`, until none of its pods is left.

        Waiting matters between cases: pods of a terminating namespace still hold their
        node's GPUs, and the next case's pods would be Pending for it. (The namespace object
        itself lingers a few seconds more; nothing depends on that.) So a wait deletes the
        namespace's RayClusters first: the garbage collector then deletes their pods at once,
        where the namespace controller gets to them only seconds later (5 s against 0.3 s here).
        """
        if wait:
            self._delete_rayclusters(name)
        try:
            self.core.delete_namespace(name, propagation_policy="Background", _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status != 404:
                raise
        if wait:
            wait_until(
                lambda: not self.core.list_namespaced_pod(name, _request_timeout=self.timeout).items,
                f"the pods of namespace {name} to be deleted",
                tier="kube",
                interval=0.5,
            )

    def _delete_rayclusters(self, namespace: str) -> None:
        """Delete every RayCluster of `namespace` (their pods follow, by owner reference); best effort:
        the namespace's own deletion takes whatever is left."""
        try:
            listed = cast(
                dict[str, Any],
                self.custom.list_namespaced_custom_object(
                    RAY_GROUP, RAY_VERSION, namespace, RAYCLUSTERS, _request_timeout=self.timeout
                ),
            )
            items = listed.get("items", [])
            for item in items:
                self.custom.delete_namespaced_custom_object(
                    RAY_GROUP,
                    RAY_VERSION,
                    namespace,
                    RAYCLUSTERS,
                    item["metadata"]["name"],
                    _request_timeout=self.timeout,
                )
        except ApiException as exc:
            if exc.status not in (403, 404):
                raise

    def namespace_exists(self, name: str) -> bool:
        """True while the API server still has the namespace (also while it terminates)."""
        try:
            self.core.read_namespace(name, _request_timeout=self.timeout)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    # -- RayCluster ---------------------------------------------------------------------------

    def apply_raycluster(
        self, namespace: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Server-side apply a RayCluster (field manager `gpuconf`, conflicts forced)."""
        body = {
            "apiVersion": f"{RAY_GROUP}/{RAY_VERSION}",
            "kind": "RayCluster",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
            # a round trip through JSON drops the loader's line-tracking subclasses
            "spec": json.loads(json.dumps(spec)),
        }
        return cast(
            dict[str, Any],
            self.custom.patch_namespaced_custom_object(
                RAY_GROUP,
                RAY_VERSION,
                namespace,
                RAYCLUSTERS,
                name,
                body,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type=APPLY,
                _request_timeout=self.timeout,
            ),
        )

    def read_raycluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The RayCluster object (None when absent)."""
        try:
            return cast(
                dict[str, Any],
                self.custom.get_namespaced_custom_object(
                    RAY_GROUP, RAY_VERSION, namespace, RAYCLUSTERS, name, _request_timeout=self.timeout
                ),
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    # -- pods, nodes, events ------------------------------------------------------------------

    def cluster_pods(self, namespace: str, cluster: str) -> list[PodInfo]:
        """The pods of one RayCluster (head first, then by group and name), with FailedScheduling messages."""
        raw = self.core.list_namespaced_pod(
            namespace, label_selector=f"{CLUSTER_LABEL}={cluster}", _request_timeout=self.timeout
        ).items
        pods = [pod_info(p) for p in raw if not (p.metadata and p.metadata.deletion_timestamp)]
        messages = self.failed_scheduling(namespace)
        for pod in pods:
            if pod.node is None:
                pod.failed_scheduling = messages.get(pod.name)
        return sorted(pods, key=lambda p: (not p.is_head, p.group, p.name))

    def nodes(self) -> list[NodeInfo]:
        """Every node: labels, taints, allocatable."""
        return [node_info(n) for n in self.core.list_node(_request_timeout=self.timeout).items]

    def events(self, namespace: str) -> list[Any]:
        """The namespace's events, oldest first (core/v1: events.k8s.io/v1 fails on an empty eventTime)."""
        items = self.core.list_namespaced_event(namespace, _request_timeout=self.timeout).items
        return sorted(items, key=event_time)

    def failed_scheduling(self, namespace: str) -> dict[str, str]:
        """The latest FailedScheduling message of each pod of the namespace."""
        items = self.core.list_namespaced_event(
            namespace, field_selector="reason=FailedScheduling", _request_timeout=self.timeout
        ).items
        out: dict[str, str] = {}
        for ev in sorted(items, key=event_time):
            if ev.involved_object and ev.involved_object.kind == "Pod" and ev.involved_object.name:
                out[ev.involved_object.name] = ev.message or ""
        return out

    def to_dict(self, obj: Any) -> Any:
        """A client model as plain data (for YAML diagnostics)."""
        return self.api.sanitize_for_serialization(obj)


def event_time(ev: Any) -> str:
    """Sort key of a core/v1 event: the last time it was seen."""
    when = ev.last_timestamp or ev.event_time or ev.first_timestamp or ev.metadata.creation_timestamp
    return when.isoformat() if when else ""


class NamespaceGuard:
    """Deletes a run's namespace exactly once: on `release()`, or at interpreter exit if nobody did."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.released = False
        atexit.register(self._at_exit)
        _exit_on_sigterm()

    def release(self, wait: bool = False) -> None:
        """Delete the namespace (NotFound is fine)."""
        if self.released:
            return
        self.released = True
        atexit.unregister(self._at_exit)
        self.kube.delete_namespace(self.namespace, wait=wait)

    def keep(self) -> None:
        """Never delete the namespace (it is kept for inspection)."""
        self.released = True
        atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        with contextlib.suppress(Exception):  # exiting anyway: a leftover is found later by its labels
            self.release()


def _exit_on_sigterm() -> None:
    """Make SIGTERM (CI cancel, `timeout`) unwind like Ctrl-C, so finally blocks and atexit delete namespaces."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(SystemExit(128 + signum)))


def delete_leftovers(kube: KubeClient, run_id: str | None = None) -> list[str]:
    """Delete every namespace gpuconf created (of one run, when given); return their names."""
    selector = f"{MANAGED_BY[0]}={MANAGED_BY[1]}" + (f",gpuconf.io/run={run_id}" if run_id else "")
    names = [str(n.metadata.name) for n in kube.core.list_namespace(label_selector=selector).items if n.metadata]
    for name in names:
        kube.delete_namespace(name)
    return names
