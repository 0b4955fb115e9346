"""Rules on the node pool and the expectations themselves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gpuconf.inputs.expectations import GpuDeployment
from gpuconf.inputs.loader import get
from gpuconf.model.plan import Plan
from gpuconf.static.catalogue import ERROR, UNCHECKED, Finding, Place, rule
from gpuconf.static.rules.common import at_object


@rule("NODEPOOL-NO-GPU", ERROR, "no node of the pool is a GPU node with an allocatable GPU")
def _pool(plan: Plan) -> Iterator[Finding]:
    from gpuconf.model.accelerators import accelerator_kind, accelerators_in, describe

    exp = plan.expectations

    def dra_gpus(n: Any) -> int:
        return sum(1 for d in n.dra if d.is_gpu)

    if any(plan.is_gpu_node(n.name) and (exp.gpus(n.allocatable) > 0 or dra_gpus(n)) for n in plan.nodes):
        return
    # Say what the nodes do offer: a MIG slice or another vendor's device is not "no GPU".
    offered = {
        n.name: describe(n.allocatable)
        for n in plan.nodes
        if plan.is_gpu_node(n.name) and accelerators_in(n.allocatable)
    }
    others = {
        n.name: describe(n.allocatable) for n in plan.nodes if n.name not in offered and accelerators_in(n.allocatable)
    }
    seen = ""
    if offered:
        seen = (
            "; the GPU nodes offer "
            + "; ".join(f"{k}: {v}" for k, v in offered.items())
            + (
                ", which the expectations' gpuResource(s) exclude: list them in gpuNodes.gpuResources if they are the GPUs"
            )
        )
    elif others:
        seen = "; accelerators are on nodes without the GPU labels: " + "; ".join(
            f"{k}: {v}" for k, v in others.items()
        )
    yield Finding(
        at_object(exp.doc),
        f"no node carries {exp.gpu_node_selector} with allocatable {exp.gpu_resources_text()} "
        f"(or DRA GPU devices in a ResourceSlice){seen}",
        "label the GPU nodes (kubectl label node <name> "
        + " ".join(f"{k}={v}" for k, v in exp.gpu_node_selector.items())
        + ") and check the device plugin advertises the GPUs",
        evidence={
            "offered": offered,
            "elsewhere": others,
            # GPU resources (by Ray's count) on the labelled nodes, which the expectations could list.
            "offered_resources": {
                n.name: sorted(
                    r for r in accelerators_in(n.allocatable) if (k := accelerator_kind(r)) is not None and k.is_gpu
                )
                for n in plan.nodes
                if n.name in offered
            },
        },
    )


@rule(
    "EXPECT-MISSING",
    ERROR,
    "the expectations name a deployment the Serve config lacks (unchecked where no Serve config was given)",
)
def _expect_missing(plan: Plan) -> Iterator[Finding]:
    if not plan.target.serve.given:
        yield from _expect_unchecked(plan)
        return
    present = {(d.demand.app, d.demand.deployment) for d in plan.deployments}
    # An app listed without `deployments:` defines them in code: SERVE-APP-UNSEEN says so, and
    # "not in the Serve config" would be false.
    in_code = {
        str(a.get("name", "default"))
        for a in get(plan.target.serve.body, "applications", default=[]) or []
        if isinstance(a, dict) and not a.get("deployments")
    }
    for i, exp in enumerate(plan.expectations.gpu_deployments):
        if (exp.app, exp.deployment) not in present and exp.app not in in_code:
            yield Finding(
                _entry(plan, i, exp),
                f"expected GPU deployment {exp.app}/{exp.deployment} is not in the Serve config",
                "fix the app/deployment names in expectations.yaml or add the deployment",
                evidence={},
            )


def _expect_unchecked(plan: Plan) -> Iterator[Finding]:
    """Without a Serve config the expected deployments were not seen: unchecked, not missing."""
    for i, exp in enumerate(plan.expectations.gpu_deployments):
        yield Finding(
            _entry(plan, i, exp),
            f"expected GPU deployment {exp.app}/{exp.deployment} was not checked: no Serve config was given "
            f"for {plan.target.name}, so where its replicas land is unknown",
            "pass the Serve config among the paths (with --import-apps APP_DIR if its deployments are set "
            "in code), or check it live: make conformance MANIFESTS=DIR",
            evidence={"app": exp.app, "deployment": exp.deployment},
            severity=UNCHECKED,  # no Serve config given: the deployment was not seen, not found missing
        )


def _entry(plan: Plan, i: int, exp: GpuDeployment) -> Place:
    """The i-th entry of the expectations' gpuDeployments (parsed in order, one per entry)."""
    if plan.expectations.doc is None:  # the defaults: the deployment was read from a Serve config
        return Place(exp.loc)
    return at_object(plan.expectations.doc, "gpuDeployments", i)
