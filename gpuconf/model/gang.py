"""Batch and gang schedulers behind KubeRay: which one takes a RayCluster, its queue, and its gang.

KubeRay v1.5.0 runs one batch scheduler for the whole operator (`--batch-scheduler`,
controllers/ray/batchscheduler/schedulermanager.go); a RayCluster says nothing of it but the
labels that scheduler reads. So the expectations name it (`batchScheduler:`), else it is
inferred from those labels:

- Volcano (batchscheduler/volcano): a PodGroup for every RayCluster, minMember = the desired
  workers + 1 (head), or minReplicas + 1 with autoscaling (calculatePodGroupParams); its queue
  from `volcano.sh/queue-name` (none: Volcano's `default` queue). Volcano binds none of a gang's
  pods until all minMember fit.
- scheduler-plugins (batchscheduler/scheduler-plugins): the same PodGroup, only with the label
  `ray.io/gang-scheduling-enabled`.
- YuniKorn (batchscheduler/yunikorn): queue from `yunikorn.apache.org/queue`; gang only with
  `ray.io/gang-scheduling-enabled`: task groups of the head (1) and each worker group
  (minReplicas x numOfHosts).
- KAI (batchscheduler/kai-scheduler): the queue label `kai.scheduler/queue` is required: without
  it KubeRay logs "Queue label missing from parent; child will remain pending" and the pods stay
  Pending. KAI's fractional GPUs: pod annotation `gpu-fraction` (or `gpu-memory`) and no GPU limit.
- Kueue: `kueue.x-k8s.io/queue-name` on the RayCluster/RayJob/RayService; without it Kueue
  (manageJobsWithoutQueueName false, its default) leaves the workload alone, outside any quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GANG_LABEL = "ray.io/gang-scheduling-enabled"
QUEUE_LABELS = {
    "volcano": "volcano.sh/queue-name",
    "yunikorn": "yunikorn.apache.org/queue",
    "kai-scheduler": "kai.scheduler/queue",
    "kueue": "kueue.x-k8s.io/queue-name",
}
# KAI's fractional-GPU pod annotations (kai-scheduler docs: gpu-sharing).
KAI_FRACTION_ANNOTATIONS = ("gpu-fraction", "gpu-memory")


@dataclass(frozen=True)
class BatchScheduler:
    """The batch scheduler a RayCluster goes through, and how it was known."""

    name: str
    source: str
    queue_label: str | None
    queue: str | None
    gang: bool

    @property
    def queue_required(self) -> bool:
        """KAI leaves the pods Pending without a queue; the others fall back to a default (or, Kueue, to no quota)."""
        return self.name == "kai-scheduler"


def batch_scheduler(labels: dict[str, str], declared: str | None, declared_queue: str | None) -> BatchScheduler | None:
    """The scheduler named by the expectations, else the one the object's labels are for (None: the default scheduler)."""
    name, source = declared, "the expectations' batchScheduler"
    if name is None:
        for candidate, key in QUEUE_LABELS.items():
            if key in labels:
                name, source = candidate, f"its label {key}"
                break
        else:
            if "yunikorn.apache.org/app-id" in labels:
                name, source = "yunikorn", "its label yunikorn.apache.org/app-id"
    if name is None or name == "none":
        return None
    label = QUEUE_LABELS.get(name)
    gang = name == "volcano" or (name in ("yunikorn", "scheduler-plugins") and GANG_LABEL in labels)
    return BatchScheduler(name, source, label, labels.get(label) if label else None, gang)


def gang_sizes(spec: dict[str, Any], scheduler: BatchScheduler) -> dict[str | None, int] | None:
    """Pods each group must place together (None key: the head), or None without a gang.

    Volcano and scheduler-plugins: every desired pod (minReplicas with autoscaling, for
    Volcano); YuniKorn: the head and minReplicas x numOfHosts of each worker group.
    """
    if not scheduler.gang:
        return None
    autoscaling = spec.get("enableInTreeAutoscaling") is True
    out: dict[str | None, int] = {None: 1}
    for w in spec.get("workerGroupSpecs") or []:
        if not isinstance(w, dict) or w.get("suspend") is True:
            continue
        hosts = int(w.get("numOfHosts", 1) or 1)
        low = int(w.get("minReplicas") or 0)
        if scheduler.name == "yunikorn" or (scheduler.name == "volcano" and autoscaling):
            out[str(w.get("groupName"))] = low * hosts
        else:
            out[str(w.get("groupName"))] = -1  # every desired pod of the group
    return out


def kai_fraction(template: dict[str, Any]) -> str | None:
    """The KAI fractional-GPU annotation of a pod template (`gpu-fraction: "0.5"`), if any."""
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    for key in KAI_FRACTION_ANNOTATIONS:
        if key in annotations:
            return f"{key}: {annotations[key]}"
    return None
