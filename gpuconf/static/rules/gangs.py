"""Rules for the batch and gang schedulers KubeRay hands pods to (gpuconf.model.gang has the sources)."""

from __future__ import annotations

from collections.abc import Iterator

from gpuconf.model.plan import Plan
from gpuconf.static.catalogue import ERROR, WARNING, Finding, rule
from gpuconf.static.rules.common import at_ray_object


@rule(
    "GANG-UNPLACEABLE", ERROR, "a gang scheduler binds none of the cluster's pods because one of its gang fits no node"
)
def _gang(plan: Plan) -> Iterator[Finding]:
    held = [p for p in plan.pods if p.gang_held and "gang" in p.gang_held]
    if not held or plan.batch is None:
        return
    short = [p for p in held if not any(not r for r in p.reasons.values())]
    groups = sorted({p.group.label for p in short})
    yield Finding(
        at_ray_object(plan),
        f"{plan.target.name} goes through {plan.batch.name} ({plan.batch.source}), which places the gang of "
        f"{len(held)} pods all together or not at all: {', '.join(p.name for p in short)} fit(s) no node, so "
        f"none of the cluster's pods starts, not even the head ({held[0].gang_held})",
        f"lower the replicas of group(s) {', '.join(groups)} to what the pool holds, or add nodes that fit them",
        evidence={"held": [p.name for p in held], "unfit": [p.name for p in short], "scheduler": plan.batch.name},
    )


@rule("GANG-QUEUE", ERROR, "a RayCluster for a batch scheduler has no queue label (KAI: its pods stay Pending)")
def _queue(plan: Plan) -> Iterator[Finding]:
    batch = plan.batch
    if batch is None or batch.queue_label is None or batch.queue:
        return
    consequence = {
        "kai-scheduler": "KubeRay copies no queue to the pods and KAI leaves them Pending "
        '("Queue label missing from parent; child will remain pending")',
        "volcano": "the PodGroup goes to Volcano's `default` queue, outside the team's quota",
        "yunikorn": "YuniKorn's placement rules pick the queue (often root.default), outside the team's quota",
        "kueue": "Kueue (manageJobsWithoutQueueName: false, its default) leaves the workload alone: no quota, no admission",
    }[batch.name]
    yield Finding(
        at_ray_object(plan),
        f"{plan.target.name} goes through {batch.name} ({batch.source}) but has no `{batch.queue_label}` label: "
        f"{consequence}",
        f"add metadata.labels {batch.queue_label}: <queue> to the {plan.target.cluster.kind}"
        + (f" (the expectations name {batch.queue!r})" if batch.queue else ""),
        evidence={"scheduler": batch.name, "label": batch.queue_label},
        # An error where the scheduler leaves the pods Pending without the label (KAI); the others queue them by default.
        severity=ERROR if batch.queue_required else WARNING,
    )
