"""Ray's fake multinode provider, with every node it launches a pod of the plan (runs in Ray's monitor).

Ray's autoscaler (the real one, started by the head's ``ray start --autoscaling-config``) decides
which group to grow and when to take an idle node away; this provider only carries that out on
this host, as Ray's own FakeMultiNodeProvider does for Ray's tests. What it adds is the part a
Kubernetes cluster would play: a launched node is the next pod of its group in the plan, bound
where the scheduler model binds it. A pod the scheduler leaves Pending (no node tolerates it,
no room) starts no Ray node, exactly as an unschedulable pod never runs `ray start`; it is
written to the state file with the scheduler's reason, and the autoscaler keeps waiting for it.

The state file (JSON, replaced atomically) is what the driver reads on ``refresh()``: the pods
in use, the pending ones, and a log of every create and delete with its time.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import ray
import ray._private.ray_constants as ray_constants
from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider
from ray.autoscaler.tags import (
    NODE_KIND_WORKER,
    STATUS_UP_TO_DATE,
    TAG_RAY_NODE_KIND,
    TAG_RAY_NODE_NAME,
    TAG_RAY_NODE_STATUS,
    TAG_RAY_USER_NODE_TYPE,
)

# Keys of the provider config the driver writes (gpuconf.backends.embedded.autoscaling).
SLOTS_KEY = "gpuconf_pods"
STATE_KEY = "gpuconf_state"
HEAD_TYPE_KEY = "gpuconf_head_type"
OBJECT_STORE_KEY = "gpuconf_object_store_bytes"
POD_LABEL_KEY = "gpuconf_pod_label"
NODE_LABEL_KEY = "gpuconf_node_label"
FIXED_KEY = "gpuconf_fixed_pods"
# Beside the state file: the `ray start` pid of each fixed worker pod, written by the driver.
FIXED_PIDS_FILE = "fixed-pods.json"


def _gcs_address_from_argv(argv: list[str]) -> str | None:
    """The GCS address Ray's monitor was started with (`--gcs-address=...`, services.start_monitor)."""
    for i, word in enumerate(argv):
        if word.startswith("--gcs-address="):
            return word.split("=", 1)[1]
        if word == "--gcs-address" and i + 1 < len(argv):
            return argv[i + 1]
    return None


class PlannedPodProvider(FakeMultiNodeProvider):
    """FakeMultiNodeProvider whose nodes are the plan's pods: bound ones start, Pending ones do not."""

    def __init__(self, provider_config: dict[str, Any], cluster_name: str) -> None:
        provider_config = dict(provider_config)
        provider_config.setdefault("gcs_address", _gcs_address_from_argv(sys.argv))
        super().__init__(provider_config, cluster_name)
        # KubeRay's head node type is "headgroup" (kuberay/autoscaling_config.py), not the fake's default.
        self._nodes[self._head_node_id]["tags"][TAG_RAY_USER_NODE_TYPE] = provider_config[HEAD_TYPE_KEY]
        self._slots: dict[str, list[dict[str, Any]]] = provider_config[SLOTS_KEY]
        self._state_path = Path(provider_config[STATE_KEY])
        self._object_store = int(provider_config[OBJECT_STORE_KEY])
        self._pod_label = str(provider_config[POD_LABEL_KEY])
        self._node_label = str(provider_config[NODE_LABEL_KEY])
        self._events: list[dict[str, Any]] = []
        # The pods started from KubeRay's command before the autoscaler ran: already this provider's nodes.
        for pod in provider_config.get(FIXED_KEY, []):
            fixed: dict[str, Any] = {
                "tags": {
                    TAG_RAY_NODE_KIND: NODE_KIND_WORKER,
                    TAG_RAY_USER_NODE_TYPE: pod["group"],
                    TAG_RAY_NODE_NAME: pod["provider_id"],
                    TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE,
                },
                "node": None,
                "fixed": True,
                **{k: pod[k] for k in ("pod", "group", "k8s_node")},
            }
            self._nodes[pod["provider_id"]] = fixed
            self._next_node_id += 1
        self._save()

    def _free_slot(self, group: str) -> dict[str, Any]:
        """The lowest planned pod of `group` not in use (past the plan: Pending, as the last planned one)."""
        used = {n.get("pod") for n in self._nodes.values()}
        slots = self._slots.get(group, [])
        for slot in slots:
            if slot["pod"] not in used:
                return slot
        last = slots[-1] if slots else {"pending": f"group {group} has no pod the plan can add"}
        return {
            "pod": f"{group}-unplanned-{self._next_node_id}",
            "k8s_node": None,
            "pending": last.get("pending") or "no node left for another pod of this group",
        }

    def _create_node_with_resources_and_labels(
        self, node_config: dict[str, Any], tags: dict[str, str], count: int, resources: dict[str, Any], labels: dict
    ) -> None:
        resources = copy.deepcopy(resources)
        with self.lock:
            group = tags[TAG_RAY_USER_NODE_TYPE]
            slot = self._free_slot(group)
            next_id = self._next_hex_node_id()
            all_tags = {
                TAG_RAY_NODE_KIND: NODE_KIND_WORKER,
                TAG_RAY_USER_NODE_TYPE: group,
                TAG_RAY_NODE_NAME: next_id,
                TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE,
                **tags,
            }
            entry: dict[str, Any] = {"tags": all_tags, "node": None, "pod": slot["pod"], "group": group}
            if slot.get("k8s_node"):
                entry["k8s_node"] = slot["k8s_node"]
                entry["node"] = self._start(next_id, slot, group, resources, labels)
                self._event("created", slot["pod"], group, slot["k8s_node"], next_id)
            else:
                entry["pending"] = slot["pending"]
                self._event("pending", slot["pod"], group, None, next_id, slot["pending"])
            self._nodes[next_id] = entry
            self._save()

    def _start(self, node_id: str, slot: dict[str, Any], group: str, resources: dict, labels: dict) -> Any:
        """Start the pod's Ray node as Ray's fake provider does, on loopback, labelled with its pod and node."""
        labels = {**labels, self._pod_label: slot["pod"], self._node_label: slot["k8s_node"]}
        memory = resources.pop("memory", None)
        params = ray._private.parameter.RayParams(
            node_ip_address="127.0.0.1",
            min_worker_port=0,
            max_worker_port=0,
            dashboard_port=None,
            dashboard_agent_listen_port=0,
            num_cpus=resources.pop("CPU", 0),
            num_gpus=resources.pop("GPU", 0),
            memory=memory,
            object_store_memory=self._object_store,
            resources=resources,
            labels=labels,
            redis_address=self._gcs_address,
            gcs_address=self._gcs_address,
            env_vars={
                # The autoscaler ties its node to the Ray node by this id (use_node_id_as_ip).
                "RAY_OVERRIDE_NODE_ID_FOR_TESTING": node_id,
                # What KubeRay sets in every Ray container.
                "RAY_CLOUD_INSTANCE_ID": slot["pod"],
                "RAY_NODE_TYPE_NAME": group,
                "GPUCONF_POD_NAME": slot["pod"],
                "GPUCONF_NODE_NAME": slot["k8s_node"],
                ray_constants.RESOURCES_ENVIRONMENT_VARIABLE: json.dumps(resources),
                ray_constants.LABELS_ENVIRONMENT_VARIABLE: json.dumps(labels),
            },
        )
        # Ray reads the node group (ray.io/node-group) from this process's environment while it
        # builds the node: set it for the node being made, then put the monitor's own back.
        own = {k: os.environ.get(k) for k in ("RAY_NODE_TYPE_NAME", "RAY_CLOUD_INSTANCE_ID")}
        os.environ.update({"RAY_NODE_TYPE_NAME": group, "RAY_CLOUD_INSTANCE_ID": slot["pod"]})
        try:
            return ray._private.node.Node(params, head=False, shutdown_at_exit=False, spawn_reaper=False)
        finally:
            for key, value in own.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def _terminate_node(self, node: dict[str, Any]) -> None:
        if node.get("node") is not None:
            super()._terminate_node(node)
        elif node.get("fixed"):
            self._stop_fixed(str(node.get("pod")))
        self._event("deleted", node.get("pod"), node.get("group"), node.get("k8s_node"), None)
        self._save()

    def _stop_fixed(self, pod: str) -> None:
        """Stop a fixed pod's `ray start --block` (its own session: its Ray processes go with it)."""
        try:
            pid = int(json.loads((self._state_path.parent / FIXED_PIDS_FILE).read_text())[pod])
            os.killpg(os.getpgid(pid), signal.SIGTERM)
        except (OSError, ValueError, KeyError):
            pass  # already gone, or never recorded: the run's teardown sweeps what is left

    def _event(
        self, kind: str, pod: Any, group: Any, k8s_node: Any, node_id: str | None, reason: str | None = None
    ) -> None:
        self._events.append(
            {"t": time.time(), "event": kind, "pod": pod, "group": group, "k8s_node": k8s_node, "reason": reason}
        )

    def _save(self) -> None:
        """Write the pods and the event log for the driver (atomically: a reader never sees half)."""
        pods = [
            {
                "pod": n.get("pod"),
                "group": n.get("group"),
                "k8s_node": n.get("k8s_node"),
                "pending": n.get("pending"),
                "provider_id": nid,
            }
            for nid, n in self._nodes.items()
            if n.get("pod")
        ]
        tmp = self._state_path.with_name(f".{self._state_path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"pods": pods, "events": self._events}))
        tmp.replace(self._state_path)
