"""The downward-API env the suite adds to each Ray container, so a replica can say where it runs.

A real pod knows its node only through the downward API. The suite adds two variables to the
Ray container of every group it applies (nothing else changes, and the addition is recorded in
the report): ``GPUCONF_POD_NAME`` (metadata.name) and ``GPUCONF_NODE_NAME`` (spec.nodeName).
Ray workers inherit the container env, so every replica's probe reports both.
"""

from __future__ import annotations

import copy
from typing import Any

DOWNWARD_ENV = {"GPUCONF_POD_NAME": "metadata.name", "GPUCONF_NODE_NAME": "spec.nodeName"}


def _groups(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [spec.get("headGroupSpec") or {}, *list(spec.get("workerGroupSpecs") or [])]


def with_downward_env(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of a RayCluster spec whose Ray containers (index 0) also get the downward-API env.

    A variable the user already defines is left as it is.
    """
    out = copy.deepcopy(spec)
    for group in _groups(out):
        containers = (((group.get("template") or {}).get("spec") or {}).get("containers")) or []
        if not containers:
            continue
        env = containers[0]["env"] = list(containers[0].get("env") or [])
        have = {e.get("name") for e in env}
        for name, field in DOWNWARD_ENV.items():
            if name not in have:
                env.append({"name": name, "valueFrom": {"fieldRef": {"fieldPath": field}}})
    return out
