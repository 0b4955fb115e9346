"""Command line of the kind cluster: ``up``, ``down``, ``status``.

The tools each subcommand needs are checked first; a missing one exits 3 with how to install
it, before anything runs. Progress goes to stderr; ``up`` prints the kubeconfig path last, on
stdout, so that ``export KUBECONFIG=$(python -m gpuconf.provision.kind up)`` works.
"""

from __future__ import annotations

import argparse
import sys

from kubernetes.client.exceptions import ApiException

from gpuconf.provision.kind import tools
from gpuconf.provision.kind.cluster import KindCluster, KindError
from gpuconf.waits import WaitTimeout


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gpuconf.provision.kind",
        description="A local kind cluster (manifests/kind/cluster.yaml) with the pinned KubeRay operator "
        "and a fake nvidia.com/gpu on its GPU worker, for the `cluster` backend.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="create (or reuse) the cluster, install KubeRay, advertise fake GPUs; "
                              "print the kubeconfig")
    sub.add_parser("down", help="delete the cluster")
    sub.add_parser("status", help="show nodes, GPUs and KubeRay; exit 0 when up and complete, 1 otherwise")
    return parser


def main(argv: list[str]) -> int:
    """Run one subcommand; return the exit status (3: a tool is missing)."""
    args = _parser().parse_args(argv)
    code = tools.report(tools.check_tools(tools.REQUIRED[args.command]))
    if code:
        return code
    cluster = KindCluster()
    try:
        if args.command == "up":
            kubeconfig = cluster.up()
            print(kubeconfig)
            return 0
        if args.command == "down":
            cluster.down()
            return 0
        if args.command == "status":
            return cluster.status()
    except (KindError, WaitTimeout) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ApiException as err:
        print(f"error: the API server answered {err.status} {err.reason}: {(err.body or '')[:300]}", file=sys.stderr)
        return 1
    raise AssertionError(args.command)
