"""Node labels and fake GPUs (gpuconf.kube.nodes) against the real API server of the kwok control plane.

Each test makes its own throwaway Node (``gpuconf-test-<random>``, played by kwok) and deletes
it afterwards: the shared node pool is never touched.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gpuconf.kube.client import KubeClient
from gpuconf.kube.nodes import (
    FAKE_GPU_LABEL,
    GPU_RESOURCE,
    MERGE_PATCH,
    advertise_fake_gpus,
    ensure_fake_gpus,
    label_nodes,
    nodes_with_gpus,
    remove_fake_gpus,
)
from gpuconf.provision.kind.cluster import KindError, advertise_gpu_nodes
from gpuconf.provision.kwok.nodes import KWOK_ANNOTATION
from gpuconf.waits import wait_until

pytestmark = pytest.mark.local_control_plane
PRE = "gpuconf.io/test-pre"  # a label the node has before the change
NEW = "gpuconf.io/test-new"  # a label it does not have


def _create_node(kube: KubeClient, managed: bool = True) -> str:
    """A Node named gpuconf-test-<random>; `managed`: with the annotation that makes kwok play its kubelet."""
    name = f"gpuconf-test-{secrets.token_hex(4)}"
    meta = client.V1ObjectMeta(
        name=name,
        labels={PRE: "before", "kubernetes.io/hostname": name},
        annotations=dict([KWOK_ANNOTATION]) if managed else None,
    )
    kube.core.create_node(client.V1Node(metadata=meta))
    return name


def _ready(kube: KubeClient, name: str) -> bool:
    node = kube.core.read_node(name)
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


def _delete(kube: KubeClient, name: str) -> None:
    try:
        kube.core.delete_node(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture()
def node(kube: KubeClient) -> Iterator[str]:
    """A fresh kwok node that kwok has already initialised (Ready), deleted afterwards."""
    name = _create_node(kube)
    try:
        wait_until(lambda: _ready(kube, name), f"kwok to make node {name} Ready", tier="kube")
        yield name
    finally:
        _delete(kube, name)


def _labels(kube: KubeClient, name: str) -> dict[str, str]:
    return dict(kube.core.read_node(name).metadata.labels or {})


def _status(kube: KubeClient, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    status = kube.core.read_node(name).status
    return dict(status.capacity or {}), dict(status.allocatable or {})


def test_labels_are_added_and_reverted_exactly(kube: KubeClient, node: str) -> None:
    """A pre-existing label gets its old value back; a label that was absent is removed."""
    before = _labels(kube, node)
    change = label_nodes(kube, [node], {PRE: "after", NEW: "added"})
    assert change.previous == {node: {PRE: "before", NEW: None}}
    during = _labels(kube, node)
    assert during[PRE] == "after" and during[NEW] == "added"
    assert {k: v for k, v in during.items() if k not in (PRE, NEW)} == {k: v for k, v in before.items() if k != PRE}
    change.revert()
    assert _labels(kube, node) == before


def test_revert_twice_is_harmless(kube: KubeClient, node: str) -> None:
    """The second revert sends nothing: a label someone set after the first one is left alone."""
    change = label_nodes(kube, [node], {NEW: "added"})
    change.revert()
    assert NEW not in _labels(kube, node)
    kube.core.patch_node(node, {"metadata": {"labels": {NEW: "someone-else"}}}, _content_type=MERGE_PATCH)
    change.revert()
    assert _labels(kube, node)[NEW] == "someone-else"


def test_revert_after_the_node_is_gone(kube: KubeClient) -> None:
    """A node deleted between label and revert is skipped, not an error (atexit must not crash)."""
    name = _create_node(kube)
    try:
        change = label_nodes(kube, [name], {NEW: "added"})
    finally:
        _delete(kube, name)
    wait_until(
        lambda: not any(n.metadata.name == name for n in kube.core.list_node().items),
        f"node {name} to be deleted",
        tier="kube",
    )
    change.revert()
    assert change.reverted


def test_a_failed_label_reverts_the_nodes_already_labelled(kube: KubeClient, node: str) -> None:
    """Labelling [good node, missing node]: the 404 goes on and the good node is as before."""
    before = _labels(kube, node)
    with pytest.raises(ApiException) as err:
        label_nodes(kube, [node, f"gpuconf-test-absent-{secrets.token_hex(4)}"], {PRE: "after", NEW: "added"})
    assert err.value.status == 404
    assert _labels(kube, node) == before


def test_advertised_fake_gpus_read_back_and_are_found(kube: KubeClient, node: str) -> None:
    """status.capacity/allocatable hold the count, the node is marked fake, nodes_with_gpus finds it."""
    assert node not in nodes_with_gpus(kube)
    advertise_fake_gpus(kube, node, 2)
    capacity, allocatable = _status(kube, node)
    assert allocatable[GPU_RESOURCE] == "2" and capacity[GPU_RESOURCE] == "2"
    assert allocatable["cpu"] == "1k"  # kwok's own defaults survive: the patch merges
    assert _labels(kube, node)[FAKE_GPU_LABEL] == "true"
    assert node in nodes_with_gpus(kube)
    assert node not in nodes_with_gpus(kube, resource="example.com/not-advertised")


def test_ensure_patches_only_when_the_value_differs(kube: KubeClient, node: str) -> None:
    """False when already right; True after a kubelet-like reset to 0, which it repairs."""
    assert ensure_fake_gpus(kube, node, 1) is True
    assert ensure_fake_gpus(kube, node, 1) is False
    # what a restarted kubelet without a device plugin does to an extended resource
    kube.core.patch_node_status(
        node,
        {"status": {"capacity": {GPU_RESOURCE: "0"}, "allocatable": {GPU_RESOURCE: "0"}}},
        _content_type=MERGE_PATCH,
    )
    assert node not in nodes_with_gpus(kube)
    assert ensure_fake_gpus(kube, node, 1) is True
    assert _status(kube, node)[1][GPU_RESOURCE] == "1"
    assert ensure_fake_gpus(kube, node, 3) is True  # a different count is a difference too
    assert _status(kube, node)[1][GPU_RESOURCE] == "3"


def test_remove_takes_the_resource_and_the_mark_away(kube: KubeClient, node: str) -> None:
    """After remove, neither capacity nor allocatable names the resource; a second remove is a no-op."""
    advertise_fake_gpus(kube, node, 1)
    assert remove_fake_gpus(kube, node) is True
    capacity, allocatable = _status(kube, node)
    assert GPU_RESOURCE not in capacity and GPU_RESOURCE not in allocatable
    assert "cpu" in allocatable  # only the GPU resource went
    assert FAKE_GPU_LABEL not in _labels(kube, node)
    assert remove_fake_gpus(kube, node) is False


def test_kwok_initialisation_keeps_a_gpu_advertised_right_after_creation(kube: KubeClient) -> None:
    """A GPU advertised right after the node is created is still there once kwok's node-initialize
    Stage has made the node Ready. Which comes first is a race (kwok takes over only nodes annotated
    when created, so the order cannot be forced from here): either kwok renders the status from a
    node that already has the GPU, or it patches its defaults in and the maps merge. Both keep it."""
    name = _create_node(kube)
    try:
        advertise_fake_gpus(kube, name, 2, mark=False)
        wait_until(lambda: _ready(kube, name), f"kwok to make node {name} Ready", tier="kube")
        capacity, allocatable = _status(kube, name)
        assert allocatable[GPU_RESOURCE] == "2" and capacity[GPU_RESOURCE] == "2"
    finally:
        _delete(kube, name)


def test_kind_up_fakes_gpus_only_where_missing(kube: KubeClient, node: str) -> None:
    """The GPU step of `gpuconf kind up`: patches the selected node once, then finds it right."""
    selector = f"kubernetes.io/hostname={node}"  # this test's node only, never the shared pool
    assert advertise_gpu_nodes(kube, selector) == {node: True}
    assert advertise_gpu_nodes(kube, selector) == {node: False}
    assert _status(kube, node)[1][GPU_RESOURCE] == "1"
    assert _labels(kube, node)[FAKE_GPU_LABEL] == "true"
    with pytest.raises(KindError, match="no node matches"):
        advertise_gpu_nodes(kube, f"kubernetes.io/hostname={node}-absent")
