"""The ``gpuconf kwok`` subcommands of the local control plane: ``up``, ``down``, ``status``, ``kubeconfig``, ``exec``.

The control plane listens inside its own network namespace (see ``netns``): ``exec -- CMD`` runs
any other client there (``gpuconf kwok exec -- kubectl get pods -A``), with ``KUBECONFIG`` set.

Also ``build`` (fill the binary cache only) and ``pin`` (regenerate ``build/*/go.mod`` after
editing ``build/versions.env``). Progress goes to stderr; ``kubeconfig`` and ``up`` print the
kubeconfig path on stdout so that ``export KUBECONFIG=$(gpuconf kwok up)`` works.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpuconf.provision.kwok.controlplane import ControlPlane

DESCRIPTION = (
    "A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager, "
    "kube-scheduler, kwok (fake nodes) and the KubeRay operator."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the kwok subcommands to `parser` (cheap: the control plane's modules load in run())."""
    sub = parser.add_subparsers(
        dest="kwok_command", required=True, metavar="{up,down,status,kubeconfig,exec,build,pin}"
    )
    up = sub.add_parser("up", help="build if needed, start, apply node pools (idempotent)")
    up.add_argument(
        "--nodes",
        nargs="+",
        type=Path,
        default=[],
        metavar="FILE",
        help="node-pool YAML files of Node objects (and the ResourceSlices and DeviceClasses that publish their "
        "DRA devices), or folders of them (e.g. manifests/nodes, overlays/dra/nodes)",
    )
    sub.add_parser("down", help="stop every process started by up and remove the state (logs kept)")
    sub.add_parser("status", help="show each component; exit 0 when up, 1 otherwise")
    sub.add_parser("kubeconfig", help="print the kubeconfig path; exit 1 when not up")
    run_in = sub.add_parser("exec", help="run a command inside the control plane's network namespace")
    run_in.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD", help="the command and its arguments")
    build = sub.add_parser("build", help="build the binaries into the cache (no-op when cached)")
    build.add_argument(
        "--all", action="store_true", help="also the realpods tier's node parts and the test tools (Helm)"
    )
    sub.add_parser("pin", help="regenerate build/kube and build/etcd go.mod/go.sum from build/versions.env")


def main(argv: list[str]) -> int:
    """``gpuconf kwok ARGV``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="gpuconf kwok", description=DESCRIPTION)
    configure(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run one parsed subcommand; return the exit status."""
    from gpuconf.provision.kwok import build, netns
    from gpuconf.provision.kwok.controlplane import ControlPlane
    from gpuconf.provision.kwok.versions import load_versions
    from gpuconf.waits import WaitTimeout

    command = args.kwok_command
    plane = ControlPlane()
    try:
        if command == "up":
            plane.up(args.nodes)
            print(plane.kubeconfig)
            return 0
        if command == "down":
            plane.down()
            return 0
        if command == "status":
            return _status(plane)
        if command == "exec":
            return _exec(plane, args.argv)
        if command == "kubeconfig":
            print(plane.kubeconfig)
            return 0 if plane.kubeconfig.exists() else 1
        if command == "build":
            if args.all:
                build.ensure_everything()
            else:
                build.ensure_built(load_versions())
            return 0
        if command == "pin":
            build.pin_go_modules(load_versions())
            return 0
    except (build.BuildError, WaitTimeout, netns.NetnsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    raise AssertionError(command)


def _exec(plane: ControlPlane, argv: list[str]) -> int:
    """Replace this process with ``argv`` inside the control plane's namespace (exit 2 when it is not up)."""
    import os

    from gpuconf.provision.kwok import netns

    argv = argv[1:] if argv[:1] == ["--"] else argv
    if not argv:
        print("usage: gpuconf kwok exec -- CMD [ARG...]", file=sys.stderr)
        return 2
    if not plane.kubeconfig.exists():
        print(f"the kwok control plane is not up (no {plane.kubeconfig}); run `make kwok-up`", file=sys.stderr)
        return 2
    netns.enter()
    os.environ["KUBECONFIG"] = str(plane.kubeconfig)
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        print(f"cannot run {argv[0]}: {err}", file=sys.stderr)
        return 127


def _status(plane: ControlPlane) -> int:
    running = plane.status()
    state = plane.load_state()
    if not running or state is None:
        print(f"down (no control plane recorded in {plane.dir})")
        return 1
    ready = plane.apiserver_ready(state)
    for name, alive in running.items():
        print(f"{name:<24} {'running' if alive else 'NOT running'}")
    print(f"{'apiserver':<24} {state.server} {'ready' if ready else 'NOT ready'}")
    print(f"{'kubeconfig':<24} {plane.kubeconfig}")
    print(f"{'versions':<24} {' '.join(f'{k}={v}' for k, v in state.versions.items())}")
    return 0 if plane.is_up() else 1
