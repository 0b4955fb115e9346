"""Rules on the Ray pods and the nodes the kube-scheduler binds them to."""

from __future__ import annotations

from collections.abc import Iterator

from gpuconf.model.plan import Plan
from gpuconf.model.scheduler import unschedulable_message
from gpuconf.static.catalogue import ERROR, Finding, rule
from gpuconf.static.rules.common import at_group


@rule("POD-UNSCHEDULABLE", ERROR, "a Ray pod fits no node of the pool and stays Pending")
def _unschedulable(plan: Plan) -> Iterator[Finding]:
    for p in plan.pods:
        # A pod the autoscaler would add and cannot place only caps the scale-up (the plan says where).
        # A pod its batch scheduler holds although it fits is GANG-UNPLACEABLE's (or GANG-QUEUE's) to report.
        if p.node is None and not p.autoscaled and not (p.gang_held and any(not r for r in p.reasons.values())):
            note = ""
            if not plan.expectations.extended_resource_toleration and plan.could_land_on(p.group, admission=True):
                note = (
                    "; with the ExtendedResourceToleration admission plugin on (GKE runs it) the pod would get "
                    "a toleration for each extended resource it requests and fit "
                    f"{plan.could_land_on(p.group, admission=True)}: if your cluster runs it, set "
                    "admission.extendedResourceToleration: true in the expectations or pass "
                    "--extended-resource-toleration"
                )
            yield Finding(
                at_group(plan, p.group, "template", "spec"),
                f"pod {p.name} (group {p.group.label}) stays Pending: {unschedulable_message(p.reasons)}{note}",
                "add the toleration/nodeSelector/resources that let it fit the intended node "
                "(for GPU nodes: tolerate their taint, e.g. key nvidia.com/gpu operator Exists)",
                evidence={"reasons": p.reasons},
            )
