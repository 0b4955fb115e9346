"""A node selector requirement against a node's name and labels, as kube-scheduler reads it.

One home for `matchExpressions`/`matchFields` semantics (k8s.io/component-helpers
scheduling/corev1/nodeaffinity): used by the scheduler model for node affinity and by the DRA
model for a ResourceSlice's or an allocation's node selector.
"""

from __future__ import annotations

from typing import Any


def requirement_matches(expr: dict[str, Any], name: str, labels: dict[str, str]) -> bool:
    """One requirement (`field` True: a matchFields entry, which can only name `metadata.name`)."""
    key, op = expr.get("key"), expr.get("operator")
    values = [str(v) for v in expr.get("values") or []]
    have = name if expr.get("field") and key == "metadata.name" else labels.get(str(key))
    if op == "In":
        return have is not None and have in values
    if op == "NotIn":
        return have is None or have not in values
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt") and have is not None and values:
        try:
            return int(have) > int(values[0]) if op == "Gt" else int(have) < int(values[0])
        except ValueError:
            return False
    return False
