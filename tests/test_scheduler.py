"""Unit tests of gpuconf.model.scheduler: kube-scheduler's filters, the tie-break, the FailedScheduling message."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gpuconf.inputs.loader import load_yaml_documents
from gpuconf.model.scheduler import (
    NodeModel,
    PodSpecView,
    choose_node,
    misfit_reasons,
    node_from_doc,
    pod_view,
    tolerates,
    unschedulable_message,
)

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def node(
    name: str,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    cpu: str = "8",
    memory: str = "32",
    gpus: int = 0,
    unschedulable: bool = False,
) -> NodeModel:
    """A node with `cpu` cores, `memory` GiB and `gpus` nvidia.com/gpu."""
    alloc = {"cpu": Decimal(cpu), "memory": Decimal(memory) * 1024**3, "pods": Decimal(110)}
    if gpus:
        alloc["nvidia.com/gpu"] = Decimal(gpus)
    return NodeModel(name, labels or {}, taints or [], alloc, unschedulable)


def pod(
    requests: dict[str, Any] | None = None,
    selector: dict[str, str] | None = None,
    terms: list[list[dict[str, Any]]] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
) -> PodSpecView:
    """A pod view with the given scheduling constraints."""
    return PodSpecView(
        selector or {}, terms or [], tolerations or [], {k: Decimal(str(v)) for k, v in (requests or {}).items()}
    )


def test_node_selector_mismatch() -> None:
    """Every nodeSelector label must be present with the same value."""
    p = pod(selector={"gpu-node": "true"})
    assert misfit_reasons(p, node("a", {"gpu-node": "false"})) == ["node(s) didn't match Pod's node affinity/selector"]
    assert misfit_reasons(p, node("b")) == ["node(s) didn't match Pod's node affinity/selector"]
    assert misfit_reasons(p, node("c", {"gpu-node": "true", "x": "y"})) == []


@pytest.mark.parametrize(
    "expr, labels, fits",
    [
        ({"key": "zone", "operator": "In", "values": ["a", "b"]}, {"zone": "b"}, True),
        ({"key": "zone", "operator": "In", "values": ["a", "b"]}, {"zone": "c"}, False),
        ({"key": "zone", "operator": "In", "values": ["a"]}, {}, False),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {"zone": "b"}, True),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {"zone": "a"}, False),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {}, True),
        ({"key": "gpu", "operator": "Exists"}, {"gpu": ""}, True),
        ({"key": "gpu", "operator": "Exists"}, {}, False),
        ({"key": "gpu", "operator": "DoesNotExist"}, {}, True),
        ({"key": "gpu", "operator": "DoesNotExist"}, {"gpu": "1"}, False),
        ({"key": "gpus", "operator": "Gt", "values": ["1"]}, {"gpus": "2"}, True),
        ({"key": "gpus", "operator": "Gt", "values": ["1"]}, {"gpus": "1"}, False),
        ({"key": "gpus", "operator": "Gt", "values": ["1"]}, {"gpus": "many"}, False),
        ({"key": "gpus", "operator": "Gt", "values": ["1"]}, {}, False),
        ({"key": "gpus", "operator": "Lt", "values": ["4"]}, {"gpus": "2"}, True),
    ],
)
def test_required_node_affinity_operators(expr: dict[str, Any], labels: dict[str, str], fits: bool) -> None:
    """In/NotIn/Exists/DoesNotExist/Gt/Lt as the scheduler's label selector reads them."""
    reasons = misfit_reasons(pod(terms=[[expr]]), node("n", labels))
    assert (reasons == []) is fits
    if not fits:
        assert reasons == ["node(s) didn't match Pod's node affinity/selector"]


def test_affinity_terms_are_ored_and_expressions_anded() -> None:
    """Terms OR; expressions inside a term AND."""
    zone_a = {"key": "zone", "operator": "In", "values": ["a"]}
    gpu = {"key": "gpu", "operator": "Exists"}
    n = node("n", {"zone": "a"})
    assert misfit_reasons(pod(terms=[[zone_a, gpu]]), n) != []
    assert misfit_reasons(pod(terms=[[gpu], [zone_a]]), n) == []


def test_match_fields_metadata_name() -> None:
    """matchFields on metadata.name compares the node name."""
    [doc] = load_yaml_documents(
        """\
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchFields:
              - {key: metadata.name, operator: In, values: [gpu-node-1]}
""",
        "p.yaml",
    )
    view = pod_view(doc, {})
    assert misfit_reasons(view, node("gpu-node-1")) == []
    assert misfit_reasons(view, node("cpu-node-1")) == ["node(s) didn't match Pod's node affinity/selector"]


@pytest.mark.parametrize(
    "toleration, ok",
    [
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, True),
        ({"key": "nvidia.com/gpu", "operator": "Exists"}, True),
        ({"operator": "Exists"}, True),  # empty key + Exists tolerates everything
        ({"key": "nvidia.com/gpu", "operator": "Equal", "value": "present"}, True),
        ({"key": "nvidia.com/gpu", "value": "present"}, True),  # operator defaults to Equal
        ({"key": "nvidia.com/gpu", "operator": "Equal", "value": "absent"}, False),
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}, False),  # effect mismatch
        ({"key": "other", "operator": "Exists"}, False),
        ({"operator": "Exists", "effect": "PreferNoSchedule"}, False),
    ],
)
def test_tolerates(toleration: dict[str, str], ok: bool) -> None:
    """Kubernetes' toleration matching for the NVIDIA taint."""
    assert tolerates([toleration], GPU_TAINT) is ok


def test_taint_no_schedule_with_and_without_toleration() -> None:
    """An untolerated NoSchedule taint filters the node; PreferNoSchedule does not."""
    gpu = node("g", taints=[GPU_TAINT], gpus=1)
    assert misfit_reasons(pod(), gpu) == ["node(s) had untolerated taint {nvidia.com/gpu: present}"]
    assert misfit_reasons(pod(tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}]), gpu) == []
    soft = node("s", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}])
    assert misfit_reasons(pod(), soft) == []


def test_untolerated_taint_without_value_message() -> None:
    """The TaintToleration plugin formats `{key: value}` even when the value is empty."""
    n = node("g", taints=[{"key": "dedicated", "effect": "NoSchedule"}])
    assert misfit_reasons(pod(), n) == ["node(s) had untolerated taint {dedicated: }"]


def test_unschedulable_node() -> None:
    """spec.unschedulable (cordoned) filters the node."""
    assert misfit_reasons(pod(), node("n", unschedulable=True)) == ["node(s) were unschedulable"]


def test_insufficient_resources_listed_per_resource() -> None:
    """Each resource that does not fit gets its own `Insufficient` reason, sorted."""
    reasons = misfit_reasons(pod({"cpu": 9, "memory": 64 * 1024**3, "nvidia.com/gpu": 1}), node("n"))
    assert reasons == ["Insufficient cpu", "Insufficient memory", "Insufficient nvidia.com/gpu"]


def test_accounting_across_two_pods_on_one_node() -> None:
    """The first pod's requests are taken; the second finds too little cpu/memory/gpu."""
    gpu = node("g", cpu="6", memory="16", gpus=1)
    first = pod({"cpu": 4, "memory": 10 * 1024**3, "nvidia.com/gpu": 1})
    chosen, reasons = choose_node(first, [gpu])
    assert chosen is gpu and reasons == {"g": []}
    assert gpu.used == {
        "cpu": Decimal(4),
        "memory": Decimal(10 * 1024**3),
        "nvidia.com/gpu": Decimal(1),
        "pods": Decimal(1),
    }
    assert gpu.free("cpu") == Decimal(2)
    second = pod({"cpu": 4, "memory": 10 * 1024**3, "nvidia.com/gpu": 1})
    chosen, reasons = choose_node(second, [gpu])
    assert chosen is None
    assert reasons == {"g": ["Insufficient cpu", "Insufficient memory", "Insufficient nvidia.com/gpu"]}
    small = pod({"cpu": 2, "memory": 6 * 1024**3})
    assert choose_node(small, [gpu])[0] is gpu
    assert gpu.free("cpu") == 0


def test_choose_least_allocated() -> None:
    """Among fitting nodes the one least allocated after placement wins; ties go by name."""
    busy, idle = node("a-busy"), node("b-idle")
    busy.used = {"cpu": Decimal(6), "memory": Decimal(8 * 1024**3)}
    p = pod({"cpu": 1, "memory": 1024**3})
    chosen, reasons = choose_node(p, [busy, idle])
    assert chosen is idle
    assert reasons == {"a-busy": [], "b-idle": []}
    twin1, twin2 = node("x2"), node("x1")
    assert choose_node(p, [twin1, twin2])[0] is twin2


def test_bigger_node_is_less_allocated() -> None:
    """Allocation is a fraction of the node: the same pod loads a big node less."""
    small, big = node("a", cpu="4", memory="16"), node("b", cpu="16", memory="64")
    assert choose_node(pod({"cpu": 2, "memory": 4 * 1024**3}), [small, big])[0] is big


def test_unschedulable_message_format() -> None:
    """The FailedScheduling summary for a GPU pod without a toleration, the CPU node full of GPUs it lacks."""
    cpu, gpu = node("cpu-node-1"), node("gpu-node-1", {"gpu-node": "true"}, [GPU_TAINT], cpu="16", memory="64", gpus=1)
    chosen, reasons = choose_node(pod({"cpu": 4, "nvidia.com/gpu": 1}), [cpu, gpu])
    assert chosen is None
    assert unschedulable_message(reasons) == (
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, "
        "1 node(s) had untolerated taint {nvidia.com/gpu: present}."
    )


def test_unschedulable_message_sorts_count_prefixed_reasons() -> None:
    """kube-scheduler sorts the `N reason` strings themselves (FitError.Error), counts included."""
    reasons = {
        "a": ["Insufficient cpu"],
        "b": ["Insufficient cpu"],
        "c": ["node(s) didn't match Pod's node affinity/selector"],
    }
    assert unschedulable_message(reasons) == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."
    )


def test_first_failing_filter_only() -> None:
    """The scheduler stops at a node's first failing filter (TaintToleration before NodeResourcesFit)."""
    gpu = node("g", taints=[GPU_TAINT], cpu="2", gpus=1)
    _, reasons = choose_node(pod({"cpu": 4}), [gpu])
    assert (
        unschedulable_message(reasons)
        == "0/1 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}."
    )


def test_node_name_pins_the_pod() -> None:
    """spec.nodeName skips every other node."""
    p = PodSpecView({}, [], [], {}, node_name="b")
    assert misfit_reasons(p, node("a")) == ["node(s) didn't match the requested node name"]
    assert misfit_reasons(p, node("b")) == []


def test_node_from_doc() -> None:
    """A Node object: labels, taints, allocatable (capacity as fallback), default pods."""
    [doc] = load_yaml_documents(
        """\
metadata:
  name: gpu-node-1
  labels: {gpu-node: "true"}
spec:
  taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]
status:
  capacity: {cpu: "16", memory: 64Gi, nvidia.com/gpu: "1"}
""",
        "n.yaml",
    )
    n = node_from_doc(doc)
    assert n.name == "gpu-node-1"
    assert n.labels == {"gpu-node": "true"}
    assert n.taints == [GPU_TAINT]
    assert n.allocatable == {
        "cpu": Decimal(16),
        "memory": Decimal(64 * 1024**3),
        "nvidia.com/gpu": Decimal(1),
        "pods": Decimal(110),
    }
    assert n.unschedulable is False
