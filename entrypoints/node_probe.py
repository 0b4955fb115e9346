"""A Ray job that probes every alive Ray node with a task that reserves no GPU.

Submitted by the cluster backend with its code inline (no upload). It prints one line,
``GPUCONF_NODE_PROBES=<json>``: per node its id, resources, labels and what a zero-GPU
process there sees (``collect_probe``), including the pod name (hostname) and the node name
(the downward-API env).
"""

from __future__ import annotations

import json
import sys
from typing import Any

# Imported before ray.init(). In the cluster backend's job the code comes inline as `gpuconf_probe`
# (gpuconf.backends.cluster.jobs), which is taken first so that an `entrypoints` package of the
# user's image is never mistaken for ours.
if "gpuconf_probe" in sys.modules:
    collect_probe = sys.modules["gpuconf_probe"].collect_probe
else:
    try:
        from entrypoints.probe import collect_probe
    except ImportError:  # run as a top-level module from inside entrypoints/
        from probe import collect_probe  # type: ignore[no-redef]

MARK = "GPUCONF_NODE_PROBES="
HEAD_RESOURCE = "node:__internal_head__"


def probe_all_nodes(timeout_s: float = 120.0) -> list[dict[str, Any]]:
    """A zero-GPU probe on every alive node (run inside a Ray driver)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0, num_gpus=0)
    def zero_gpu_probe() -> dict[str, Any]:
        return collect_probe(run_kernel=False)

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [
        zero_gpu_probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote()
        for n in nodes
    ]
    out = []
    for node, ref in zip(nodes, refs, strict=False):
        resources = {k: v for k, v in (node.get("Resources") or {}).items() if not k.startswith("node:")}
        out.append(
            {
                "node_id": node["NodeID"],
                "is_head": HEAD_RESOURCE in (node.get("Resources") or {}),
                "resources": resources,
                "labels": node.get("Labels") or {},
                "probe": ray.get(ref, timeout=timeout_s),
            }
        )
    return out


def main() -> None:
    """Connect to the job's cluster, probe, print the marked JSON line."""
    import ray

    ray.init(log_to_driver=False)
    print(MARK + json.dumps(probe_all_nodes()), flush=True)


if __name__ == "__main__":
    main()
