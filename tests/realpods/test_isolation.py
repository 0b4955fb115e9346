"""The whole cluster lives in the tier's network namespace, with no way out to the host's network."""

from __future__ import annotations

import os
from typing import Any

import pytest

from gpuconf.provision.realpods import host
from gpuconf.provision.realpods.cli import HOST_NET_FD_ENV
from gpuconf.provision.realpods.layout import NODES


def test_namespace_has_no_default_route(core: Any) -> None:
    assert host.default_route() == "", "the realpods namespace must not route anywhere outside itself"


def test_namespace_has_no_link_out(core: Any) -> None:
    """Only lo, the node bridges and the pods' veth ends: nothing bound to a host interface."""
    bridges = {n.bridge for n in NODES}
    out = host.in_netns(["ip", "-o", "-d", "link", "show"]).stdout.splitlines()
    strange = []
    for line in out:
        name = line.split(":")[1].strip().split("@")[0]
        if name == "lo" or name in bridges:
            continue
        # A pod's veth: its peer lives in a pod's namespace (link-netns / link-netnsid), which the
        # CNI bridge enslaves to a node bridge here.
        if " veth " in f" {line} " and any(f"master {b} " in line for b in bridges):
            continue
        strange.append(line.strip())
    assert not strange, f"links that could lead out of the namespace: {strange}"


def test_node_addresses_live_only_in_the_namespace(core: Any) -> None:
    inside = host.in_netns(["ip", "-o", "addr", "show"]).stdout
    # `realpods exec` leaves this process a handle on the host's network namespace.
    fd = os.environ.get(HOST_NET_FD_ENV)
    if fd is None:
        pytest.skip(f"{HOST_NET_FD_ENV} unset: run through `python -m gpuconf.provision.realpods exec`")
    outside = host.sh(["nsenter", f"--net=/proc/{os.getpid()}/fd/{fd}", "--", "ip", "-o", "addr", "show"]).stdout
    assert "lo" in outside and outside != inside
    for node in NODES:
        assert f"{node.ip}/32" in inside
        assert node.ip not in outside, f"{node.name}'s address is on the host"
    nodes = {n.metadata.name: n for n in core.list_node().items}
    for node in NODES:
        ips = [a.address for a in nodes[node.name].status.addresses if a.type == "InternalIP"]
        assert ips == [node.ip]
