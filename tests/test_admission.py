"""The ExtendedResourceToleration admission plugin's model: off by default, on by option or expectations."""

from __future__ import annotations

from pathlib import Path

from gpuconf.model.admission import added_tolerations, is_extended_resource
from gpuconf.static.check import run_check

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "manifests" / "regressions" / "gpu-group-no-toleration.yaml"


def test_extended_resource_names_follow_kubernetes() -> None:
    """Domain-qualified names outside kubernetes.io are extended; cpu, memory and kubernetes.io/* are not."""
    assert is_extended_resource("nvidia.com/gpu") and is_extended_resource("nvidia.com/mig-1g.5gb")
    assert not is_extended_resource("cpu") and not is_extended_resource("kubernetes.io/foo")
    assert not is_extended_resource("hugepages-2Mi")


def test_tolerations_come_from_limits_and_requests_of_every_container() -> None:
    """Limits count (defaulting copies them into requests); init containers count too; sorted, one per resource."""
    template = {
        "spec": {
            "containers": [{"resources": {"limits": {"nvidia.com/gpu": 1, "cpu": 1}}}],
            "initContainers": [{"resources": {"requests": {"amd.com/gpu": 1}}}],
        }
    }
    assert added_tolerations(template) == [
        {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    ]


def test_pod_unschedulable_says_when_the_plugin_would_change_the_verdict() -> None:
    """The GPU group without a toleration: Pending, and the message names the plugin that would let it fit."""
    result = run_check([CASE])
    (finding,) = [f for f in result.findings if f.rule == "POD-UNSCHEDULABLE"]
    assert "ExtendedResourceToleration" in finding.message and "gpu-node-1" in finding.message


def test_with_the_plugin_on_the_same_group_schedules() -> None:
    """The option turns the model on: the pod gets the toleration and binds to the GPU node; the check passes."""
    result = run_check([CASE], extended_resource_toleration=True)
    assert result.verdict == "pass", [f.message for f in result.findings]
    gpu = [p for p in result.plans[0].pods if p.group.name == "gpu-workers"]
    assert [p.node for p in gpu] == ["gpu-node-1"]


def test_the_expectations_field_turns_it_on(tmp_path: Path) -> None:
    """admission.extendedResourceToleration: true in the expectations has the same effect as the option."""
    exp = (REPO / "manifests" / "expectations.yaml").read_text() + "admission:\n  extendedResourceToleration: true\n"
    (tmp_path / "expectations.yaml").write_text(exp)
    result = run_check([CASE], [REPO / "manifests" / "nodes"], tmp_path / "expectations.yaml")
    assert not [f for f in result.findings if f.rule == "POD-UNSCHEDULABLE"]
