"""Embedded autoscaling: Ray's real autoscaler on the head, its node types read from the RayCluster.

With ``enableInTreeAutoscaling: true`` KubeRay runs Ray's autoscaler beside the head; it derives
the node types from the RayCluster (ray/autoscaler/_private/kuberay/autoscaling_config.py) and
asks the operator for pods. Here the same function of Ray's builds the same config from the same
spec; only the provider differs: Ray's fake multinode provider, with each launched node a pod
of the plan (gpuconf.backends.embedded.provider). The head starts Ray's monitor itself (KubeRay's
``--no-monitor`` is dropped: the monitor takes the sidecar's place), so which group grows, and
when an idle worker goes, is Ray's decision.

The fixed pods (the head, each group's ``replicas``) start from KubeRay's own ``ray start``
command, as without autoscaling, under node ids the provider lists as its own, so that the
autoscaler counts them and does not launch them a second time.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuconf.backends.embedded import provider as prov
from gpuconf.backends.localray.launcher import OBJECT_STORE_BYTES, LocalRayCluster
from gpuconf.backends.localray.specs import NodeSpec
from gpuconf.inputs.manifests import plain
from gpuconf.live.observe import PodRecord
from gpuconf.model.kuberay import autoscaler_enabled
from gpuconf.model.plan import K8S_NODE_LABEL, POD_LABEL, Plan
from gpuconf.model.raysched import RayNodeView

# Ray's fake provider names nodes by these ids (head ...00000, workers ...00001 on).
_ID_BASE = "fffffffffffffffffffffffffffffffffffffffffffffffffff"
HEAD_ID = _ID_BASE + "00000"
STATE_FILE = "autoscaler-pods.json"
# How often Ray's autoscaler runs an update (Ray's default is 5 s; Ray's own tests use 1).
UPDATE_INTERVAL_S = "1"


def autoscaled(plan: Plan) -> bool:
    """True when the RayCluster under test turns Ray's autoscaler on."""
    return autoscaler_enabled(plan.target.cluster.spec)


def fake_id(n: int) -> str:
    """The n-th node id of Ray's fake provider (0: the head)."""
    return _ID_BASE + str(n).zfill(5)


def slots_of(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """The pods the autoscaler may add, by group, in the plan's order: bound (k8s node) or Pending (reason)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for pod in plan.pods:
        if pod.autoscaled:
            out.setdefault(pod.group.label, []).append(
                {"pod": pod.name, "k8s_node": pod.node, "pending": None if pod.node else pod.pending_message}
            )
    return out


def autoscaling_config(plan: Plan, state_dir: Path, fixed: list[dict[str, Any]]) -> dict[str, Any]:
    """Ray's KubeRay autoscaling config for the plan's RayCluster, with the planned-pod provider."""
    from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

    cluster = plan.target.cluster
    cr = {"metadata": {"name": cluster.name, "namespace": "default"}, "spec": plain(cluster.spec)}
    try:
        config = _derive_autoscaling_config_from_ray_cr(cr)
    except Exception as exc:  # Ray's own parsing of the spec: on KubeRay the autoscaler sidecar dies the same way
        raise RuntimeError(
            f"Ray's autoscaler cannot read RayCluster {cluster.name} (its KubeRay sidecar would crash "
            f"the same way): {type(exc).__name__}: {exc}"
        ) from exc
    config["provider"] = {
        **config["provider"],
        "type": "external",
        "module": f"{prov.__name__}.{prov.PlannedPodProvider.__name__}",
        # Several Ray nodes share 127.0.0.1: the autoscaler tells them apart by node id.
        "use_node_id_as_ip": True,
        "head_node_id": HEAD_ID,
        prov.SLOTS_KEY: slots_of(plan),
        prov.FIXED_KEY: fixed,
        prov.STATE_KEY: str(state_dir / STATE_FILE),
        prov.HEAD_TYPE_KEY: config["head_node_type"],
        prov.OBJECT_STORE_KEY: OBJECT_STORE_BYTES,
        prov.POD_LABEL_KEY: POD_LABEL,
        prov.NODE_LABEL_KEY: K8S_NODE_LABEL,
    }
    return config


@dataclass
class Autoscaling:
    """The driver's side of embedded autoscaling: the config it wrote and the provider's state."""

    plan: Plan
    state_dir: Path
    config_path: Path
    fixed: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def prepare(cls, plan: Plan, specs: list[NodeSpec], state_dir: Path) -> Autoscaling:
        """Write the autoscaling config into `state_dir` (inside the run's temp dir, so it goes with the
        run) and make the head run Ray's monitor with it (specs change in place)."""
        state_dir.mkdir(parents=True, exist_ok=True)
        fixed = []
        for n, spec in enumerate(specs):
            # The provider's ids for the fixed pods, so the autoscaler knows them as its nodes.
            spec.env["RAY_OVERRIDE_NODE_ID_FOR_TESTING"] = fake_id(n)
            if not spec.is_head:
                fixed.append(
                    {"provider_id": fake_id(n), "pod": spec.pod, "group": spec.group, "k8s_node": spec.k8s_node}
                )
        config_path = state_dir / "autoscaling-config.json"
        config_path.write_text(json.dumps(autoscaling_config(plan, state_dir, fixed), indent=1))
        head = specs[0]
        head.argv = [w for w in head.argv if not w.startswith("--no-monitor")]
        head.argv.append(f"--autoscaling-config={config_path}")
        head.env.update({"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": UPDATE_INTERVAL_S})
        return cls(plan, state_dir, config_path, fixed)

    def record_pids(self, cluster: LocalRayCluster) -> None:
        """Tell the provider the process of each fixed worker (so it can delete one as the operator would)."""
        pids = {n.spec.pod: n.proc.pid for n in cluster.nodes if not n.spec.is_head}
        (self.state_dir / prov.FIXED_PIDS_FILE).write_text(json.dumps(pids))

    def state(self) -> dict[str, Any]:
        """The provider's pods and events (empty until Ray's monitor has started it)."""
        try:
            return dict(json.loads((self.state_dir / STATE_FILE).read_text()))
        except (OSError, ValueError):
            return {"pods": [], "events": []}

    def pending(self) -> list[dict[str, str]]:
        """Pods the autoscaler asked for that the scheduler leaves Pending, with its reason."""
        return [
            {"pod": p["pod"], "group": p["group"], "reason": p["pending"], "autoscaled": "true"}
            for p in self.state().get("pods", [])
            if p.get("pending")
        ]

    def records(self, known: dict[str, PodRecord]) -> dict[str, PodRecord]:
        """The Ray nodes of the pods the autoscaler added (read from Ray, tied to their pod by its label)."""
        import ray

        out: dict[str, PodRecord] = {}
        groups = {g.label: g for g in self.plan.groups}
        gpu_res = self.plan.expectations.is_gpu_resource
        for info in ray.nodes():
            labels = dict(info.get("Labels") or {})
            node_id = str(info["NodeID"])
            if not info.get("Alive") or node_id in known or POD_LABEL not in labels:
                continue
            group = groups.get(labels.get("ray.io/node-group", ""))
            k8s = labels.get(K8S_NODE_LABEL, "")
            if group is None:
                continue
            node = next((n for n in self.plan.nodes if n.name == k8s), None)
            out[node_id] = PodRecord(
                node_id,
                labels[POD_LABEL],
                k8s,
                group.label,
                False,
                bool(node and self.plan.expectations.is_gpu_node(node.labels, node.allocatable)),
                float(group.gpu_limit(gpu_res)),
                {k: float(v) for k, v in info["Resources"].items()},
                labels,
            )
        return out

    def launchable_views(self, up: set[str]) -> list[RayNodeView]:
        """The Ray nodes the autoscaler can still add (planned, bound, not up): Serve may wait for them."""
        return [
            RayNodeView(n.name, n.resources, n.labels) for n in self.plan.ray_nodes if n.autoscaled and n.name not in up
        ]

    def remove(self) -> None:
        """Remove the config and state folder (also removed with the run's temp dir, which holds it)."""
        shutil.rmtree(self.state_dir, ignore_errors=True)
