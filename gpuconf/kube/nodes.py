"""Changes gpuconf makes to Node objects: labels it can take back, and fake GPUs for kind.

- :func:`label_nodes` adds labels and returns a :class:`NodeLabelChange` whose ``revert()``
  puts back exactly what was there (a value, or no key at all).
- :func:`advertise_fake_gpus` / :func:`ensure_fake_gpus` / :func:`remove_fake_gpus` write an
  extended resource into a node's status, as a device plugin would. That is how a kind node
  gets "GPUs" the scheduler can count (there is no device behind them: such nodes carry the
  label :data:`FAKE_GPU_LABEL` so suites can skip the CUDA checks there with that reason).

Every patch is a JSON merge patch (RFC 7386): a key set to ``None`` is removed, and removing
an absent key is a no-op — which is what revert and remove need.
"""

from __future__ import annotations

import atexit
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubernetes.client.exceptions import ApiException

from gpuconf.inputs.quantity import parse_quantity
from gpuconf.inputs.resources import GpuPredicate, gpu_amount
from gpuconf.kube.client import KubeClient

GPU_RESOURCE = "nvidia.com/gpu"
FAKE_GPU_LABEL = "gpuconf.io/fake-gpu"
MERGE_PATCH = "application/merge-patch+json"
_CONFLICT_RETRIES = 5


@dataclass
class NodeLabelChange:
    """Labels added by :func:`label_nodes`, and what each key held before (``None`` = absent)."""

    kube: KubeClient
    previous: dict[str, dict[str, str | None]] = field(default_factory=dict)
    reverted: bool = False

    def revert(self) -> None:
        """Put every label back as it was; a second call does nothing.

        A node deleted meanwhile is skipped (nothing left to restore). Safe from atexit.
        """
        if self.reverted:
            return
        self.reverted = True  # first, so that a failure below is not retried by atexit on top
        atexit.unregister(self._at_exit)
        errors: list[str] = []
        for name, labels in self.previous.items():
            try:
                _patch_labels(self.kube, name, labels)
            except ApiException as exc:
                if exc.status != 404:
                    errors.append(f"{name}: {exc.status} {exc.reason}")
        if errors:
            raise RuntimeError(f"could not restore the labels of: {'; '.join(errors)}")

    def _at_exit(self) -> None:
        with contextlib.suppress(Exception):  # exiting anyway; nothing better to do with the error than drop it
            self.revert()


def label_nodes(
    kube: KubeClient, names: list[str], labels: dict[str, str], revert_at_exit: bool = False
) -> NodeLabelChange:
    """Add `labels` to each node of `names`; return the change, to be reverted later.

    Each node is read, then patched with its resourceVersion as a precondition, so the
    recorded previous values are exactly the ones replaced (a concurrent change makes the
    API server answer 409 and the node is read again). If one node fails, the nodes already
    labelled are reverted before the error goes on. With `revert_at_exit`, `revert()` also
    runs at interpreter exit unless called before.
    """
    change = NodeLabelChange(kube)
    try:
        for name in names:
            change.previous[name] = _label_one(kube, name, labels)
    except BaseException:
        change.revert()
        raise
    if revert_at_exit:
        atexit.register(change._at_exit)
    return change


def _label_one(kube: KubeClient, name: str, labels: dict[str, str]) -> dict[str, str | None]:
    for _ in range(_CONFLICT_RETRIES):
        node = kube.core.read_node(name, _request_timeout=kube.timeout)
        meta = node.metadata
        current = dict((meta.labels if meta else None) or {})
        try:
            _patch_labels(kube, name, labels, meta.resource_version if meta else None)
        except ApiException as exc:
            if exc.status == 409:
                continue
            raise
        return {key: current.get(key) for key in labels}
    raise RuntimeError(f"node {name} kept changing while being labelled ({_CONFLICT_RETRIES} conflicts)")


def _patch_labels(
    kube: KubeClient, name: str, labels: Mapping[str, str | None], resource_version: str | None = None
) -> None:
    metadata: dict[str, Any] = {"labels": labels}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    kube.core.patch_node(name, {"metadata": metadata}, _content_type=MERGE_PATCH, _request_timeout=kube.timeout)


def nodes_with_gpus(kube: KubeClient, resource: str | GpuPredicate = GPU_RESOURCE) -> list[str]:
    """The names (sorted) of the nodes whose allocatable `resource` (a name, or a predicate summed) is more than zero."""
    if callable(resource):
        return sorted(n.name for n in kube.nodes() if gpu_amount(n.allocatable, resource) > 0)
    return sorted(n.name for n in kube.nodes() if n.allocatable.get(resource, Decimal(0)) > 0)


def _allocatable(node: Any, resource: str, section: str = "allocatable") -> Decimal:
    raw = (getattr(node.status, section, None) or {}) if node.status else {}
    try:
        return parse_quantity(raw.get(resource, "0"))
    except ValueError:  # an odd value advertises nothing usable
        return Decimal(0)


def advertise_fake_gpus(
    kube: KubeClient, node: str, count: int, resource: str = GPU_RESOURCE, mark: bool = True
) -> None:
    """Set `resource` to `count` in the node's status capacity and allocatable.

    Both are written: a real kubelet derives allocatable from capacity on its next status
    update, but the scheduler reads allocatable and must see the GPUs at once. With `mark`,
    the node also gets the label ``gpuconf.io/fake-gpu: "true"`` (no device behind it).
    """
    value = str(count)
    kube.core.patch_node_status(
        node,
        {"status": {"capacity": {resource: value}, "allocatable": {resource: value}}},
        _content_type=MERGE_PATCH,
        _request_timeout=kube.timeout,
    )
    if mark:
        _patch_labels(kube, node, {FAKE_GPU_LABEL: "true"})


def ensure_fake_gpus(kube: KubeClient, node: str, count: int, resource: str = GPU_RESOURCE, mark: bool = True) -> bool:
    """Advertise `count` of `resource` unless the node already does; return whether it patched.

    A kubelet without a device plugin for `resource` zeroes it when it restarts, so this is
    re-run (by ``gpuconf kind up``) rather than trusted to hold forever.
    """
    current = kube.core.read_node(node, _request_timeout=kube.timeout)
    wanted = Decimal(count)
    marked = not mark or ((current.metadata.labels if current.metadata else None) or {}).get(FAKE_GPU_LABEL) == "true"
    if _allocatable(current, resource) == wanted and _allocatable(current, resource, "capacity") == wanted and marked:
        return False
    advertise_fake_gpus(kube, node, count, resource, mark)
    return True


def remove_fake_gpus(kube: KubeClient, node: str, resource: str = GPU_RESOURCE) -> bool:
    """Remove `resource` from the node's capacity and allocatable, and the fake-GPU label.

    Returns whether the node advertised the resource or carried the label. A merge patch with
    ``None`` rather than a JSON-patch ``remove``: the API server rejects a ``remove`` of an
    absent key with a bare 422, while a merge patch makes "already absent" a no-op, atomically.
    """
    current = kube.core.read_node(node, _request_timeout=kube.timeout)
    status = current.status
    present = bool(status) and any(resource in (getattr(status, s, None) or {}) for s in ("capacity", "allocatable"))
    labelled = FAKE_GPU_LABEL in ((current.metadata.labels if current.metadata else None) or {})
    kube.core.patch_node_status(
        node,
        {"status": {"capacity": {resource: None}, "allocatable": {resource: None}}},
        _content_type=MERGE_PATCH,
        _request_timeout=kube.timeout,
    )
    if labelled:
        _patch_labels(kube, node, {FAKE_GPU_LABEL: None})
    return present or labelled
