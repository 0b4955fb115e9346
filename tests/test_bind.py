"""bind.py's classification: what counts as reachable only through loopback."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from gpuconf.backends.localray.bind import Listener, exposed, interfaces_of, listeners


def _l(address: str, lo_only: bool = False) -> Listener:
    return Listener(1, "x", address, 1, "net:[1]", lo_only)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"])
def test_loopback_addresses_are_not_exposed(address: str) -> None:
    """127.0.0.0/8, ::1 and IPv4-mapped loopback."""
    assert not exposed([_l(address)])


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.0.2.2", "::ffff:192.0.2.2", "10.1.2.3"])
def test_wildcard_and_host_addresses_are_exposed_on_the_host_network(address: str) -> None:
    """Any other address, in a namespace with more than `lo`."""
    assert exposed([_l(address)]) == [_l(address)]
    assert not exposed([_l(address, lo_only=True)])  # the same inside a namespace with only lo


def test_listeners_reads_this_process_sockets() -> None:
    """A socket listening on the wildcard address shows up with its address and port, and is exposed."""
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        mine = [x for x in listeners([os.getpid()]) if x.port == port]
        assert [(x.address, x.port) for x in mine] == [("0.0.0.0", port)]
        lo_only = interfaces_of("self") == ["lo"]
        assert bool(exposed(mine)) != lo_only
        assert threading.current_thread() is threading.main_thread()
