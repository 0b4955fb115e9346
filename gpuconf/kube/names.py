"""Names and labels of what one run creates, so leftovers can be found and removed."""

from __future__ import annotations

import os
import re
import secrets

MANAGED_BY = ("app.kubernetes.io/managed-by", "gpuconf")
RUN_LABEL = "gpuconf.io/run"
_MAX = 63  # a namespace name is a DNS label


def dns_label(text: str, limit: int = _MAX) -> str:
    """`text` as a DNS-1123 label: lower case, [a-z0-9-], at most `limit` chars, no edge dashes."""
    clean = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return clean[:limit].rstrip("-") or "x"


def new_run_id() -> str:
    """The run id: $GPUCONF_RUN_ID when the launcher set one, else a fresh random one."""
    return dns_label(os.environ.get("GPUCONF_RUN_ID") or secrets.token_hex(4), 40)


def namespace_for(run_id: str, suffix: str = "") -> str:
    """`gpuconf-<run>[-<suffix>]`, always a valid namespace name (a random tail keeps it unique)."""
    tail = secrets.token_hex(3)
    stem = dns_label("-".join(filter(None, ["gpuconf", run_id, suffix])), _MAX - len(tail) - 1)
    return f"{stem}-{tail}"


def run_labels(run_id: str) -> dict[str, str]:
    """The labels every object of a run carries."""
    return {MANAGED_BY[0]: MANAGED_BY[1], RUN_LABEL: dns_label(run_id)}
