"""The ``gpuconf kind`` subcommands: ``up``, ``down``, ``status``.

The tools each subcommand needs are checked first; a missing one exits 3 with how to install
it, before anything runs. Progress goes to stderr; ``up`` prints the kubeconfig path last, on
stdout, so that ``export KUBECONFIG=$(gpuconf kind up)`` works.
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = (
    "A local kind cluster (manifests/kind/cluster.yaml) with the pinned KubeRay operator "
    "and a fake nvidia.com/gpu on its GPU worker, for the `cluster` backend."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the kind subcommands to `parser` (cheap: nothing heavy is imported here)."""
    sub = parser.add_subparsers(dest="kind_command", required=True, metavar="{up,down,status}")
    sub.add_parser(
        "up", help="create (or reuse) the cluster, install KubeRay, advertise fake GPUs; print the kubeconfig"
    )
    sub.add_parser("down", help="delete the cluster")
    sub.add_parser("status", help="show nodes, GPUs and KubeRay; exit 0 when up and complete, 1 otherwise")


def run(args: argparse.Namespace) -> int:
    """Run the parsed subcommand; return the exit status (3: a tool is missing)."""
    from kubernetes.client.exceptions import ApiException

    from gpuconf.provision.kind import tools
    from gpuconf.provision.kind.cluster import KindCluster, KindError
    from gpuconf.waits import WaitTimeout

    command = args.kind_command
    code = tools.report(tools.check_tools(tools.REQUIRED[command]))
    if code:
        return code
    cluster = KindCluster()
    try:
        if command == "up":
            kubeconfig = cluster.up()
            print(kubeconfig)
            return 0
        if command == "down":
            cluster.down()
            return 0
        if command == "status":
            return cluster.status()
    except (KindError, WaitTimeout) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ApiException as err:
        print(f"error: the API server answered {err.status} {err.reason}: {(err.body or '')[:300]}", file=sys.stderr)
        return 1
    raise AssertionError(command)


def main(argv: list[str]) -> int:
    """``gpuconf kind ARGV``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="gpuconf kind", description=DESCRIPTION)
    configure(parser)
    return run(parser.parse_args(argv))
