"""Command line: ``python -m gpuconf.provision.realpods up|status|down|exec -- CMD…``.

``up`` prints the admin kubeconfig's path as its last line. The API server listens inside
the tier's network namespace only, so clients run there: ``exec -- CMD`` runs CMD with
``nsenter --net=`` and ``KUBECONFIG`` set.
"""

from __future__ import annotations

import json
import os
import sys

from gpuconf.provision.realpods import cluster
from gpuconf.provision.realpods.layout import NETNS_PATH, nsenter_net

EXIT_SKIP = 3
#: The fd number (in processes started by ``exec``) of the host's network namespace.
HOST_NET_FD_ENV = "GPUCONF_REALPODS_HOST_NET_FD"


def main(argv: list[str] | None = None) -> int:
    """Dispatch one sub-command; exit 2 on a bad one, 3 when the machine cannot run the tier."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("up", "status", "down", "exec", "prepare", "_inside"):
        print("usage: python -m gpuconf.provision.realpods up|status|down|prepare|exec -- CMD...", file=sys.stderr)
        return 2
    cmd = args[0]
    if cmd == "prepare":  # every build and image `up` needs, on the host's network (make build-cache)
        cluster.prepare()
        return 0
    if cmd == "up":
        try:
            path = cluster.up()
        except cluster.Skip as skip:
            print(str(skip), file=sys.stderr)
            return EXIT_SKIP
        print(path)
        return 0
    if cmd == "_inside":
        cluster.up_inside(float(args[1]))
        return 0
    if cmd == "status":
        print(json.dumps(cluster.status(), indent=2))
        return 0
    if cmd == "down":
        cluster.down()
        return 0
    rest = args[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if not rest:
        print("usage: python -m gpuconf.provision.realpods exec -- CMD...", file=sys.stderr)
        return 2
    if not NETNS_PATH.exists():
        print("realpods is not up (run make realpods-up)", file=sys.stderr)
        return 2
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig_path())
    # Keep a handle on the host's network namespace (inherited across exec), so that tests
    # inside can show that the node addresses are not on the host.
    host_net = os.open("/proc/self/ns/net", os.O_RDONLY)
    os.set_inheritable(host_net, True)
    os.environ[HOST_NET_FD_ENV] = str(host_net)
    os.execvp("nsenter", [*nsenter_net(), *rest])
    return 0  # not reached
