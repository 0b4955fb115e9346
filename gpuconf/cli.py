"""The command line: `python -m gpuconf check|catalogue|cluster|cleanup`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gpuconf.errors import InputError

EXIT_PASS, EXIT_FAIL, EXIT_INPUT = 0, 1, 2

CHECK_EPILOG = """\
kinds read:
  RayCluster, RayService (spec.rayClusterConfig + serveConfigV2), RayJob (spec.rayClusterSpec;
  clusterSelector is reported as using an existing cluster) at ray.io/v1, and ray.io/v1alpha1
  with a deprecation notice; Serve configs (`serve deploy` format); Node; Expectations
  (gpuconf/v1); `kind: List` of any of these (kubectl get ... -o yaml). Other kinds are
  skipped and listed as "not modelled". Helm templates must be rendered first.

defaults without an expectations file:
  a GPU node is a node with allocatable GPUs (nvidia.com/gpu, any *gpu resource, MIG slices);
  the GPU deployments are those with ray_actor_options.num_gpus > 0.

exit codes:
  0  pass: no error finding
  1  fail: at least one error finding (each names file:line and the fix)
  2  bad input: malformed, unreadable or past a limit (file:line, what was expected, the fix)

limits, input and output: docs/static-inputs.md
"""


def _check(args: argparse.Namespace) -> int:
    from gpuconf.check import run_check
    from gpuconf.render import render_text

    try:
        result = run_check([Path(p) for p in args.paths], [Path(n) for n in args.nodes] or None,
                           Path(args.expect) if args.expect else None,
                           Path(args.import_apps) if args.import_apps else None,
                           extended_resource_toleration=args.extended_resource_toleration)
    except InputError as exc:
        if args.format == "json":
            print(json.dumps({"verdict": "error", "error": {"file": exc.loc.file if exc.loc else None,
                              "line": exc.loc.line if exc.loc else None, "message": exc.message, "fix": exc.fix}}))
        else:
            print(exc.render(), file=sys.stderr)
        return EXIT_INPUT
    if args.format == "json":
        print(json.dumps(result.as_json(), indent=2))
    else:
        print(render_text(result))
    return EXIT_PASS if result.verdict == "pass" else EXIT_FAIL


def _catalogue(args: argparse.Namespace) -> int:
    from gpuconf import coverage  # noqa: F401  (registers its rule)
    from gpuconf.rules import CATALOGUE

    for r in CATALOGUE:
        print(f"{r.id:<22} {r.severity:<8} {r.summary}")
    return EXIT_PASS


def _cluster(args: argparse.Namespace) -> int:
    from gpuconf.provision.kwok.cli import main as kwok_main

    return kwok_main(args.rest)


def _preflight(args: argparse.Namespace) -> int:
    import os

    from gpuconf.inputs import load_inputs
    from gpuconf.kube.preflight import exit_code, run_preflight

    kubeconfig = args.kubeconfig or os.environ.get("KUBECONFIG")
    if not kubeconfig:
        print("error: no kubeconfig (pass --kubeconfig or set KUBECONFIG)", file=sys.stderr)
        return EXIT_INPUT
    try:
        expectations = load_inputs([Path(args.manifests)]).expectations[0]
    except InputError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_INPUT
    results = run_preflight(kubeconfig, expectations)
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.check:<16} {r.message}" + ("" if r.ok else f"\n     fix: {r.fix}"))
    code = exit_code(results)
    print("preflight: " + ("passed" if code == 0 else f"environment failure (exit {code})"))
    return code


def _cleanup(args: argparse.Namespace) -> int:
    from gpuconf.backends.localray.procs import sweep_leftovers

    killed = sweep_leftovers(run_id=None)
    print(f"stopped {killed} leftover Ray process(es) started by gpuconf")
    if args.kubeconfig:
        from gpuconf.kube.client import KubeClient, delete_leftovers

        names = delete_leftovers(KubeClient(args.kubeconfig))
        print(f"deleting {len(names)} namespace(s) gpuconf created: {', '.join(names) or '-'}")
    return EXIT_PASS


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the options)."""
    parser = argparse.ArgumentParser(prog="gpuconf", description="GPU conformance for Ray Serve on KubeRay")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check", help="static check of manifests: can the ML service land only on GPU nodes?",
        description="Plan the manifests as KubeRay, the Kubernetes scheduler and Ray would, and run the rule "
                    "catalogue (gpuconf catalogue) over the plan. Nothing is deployed; no cluster is needed.",
        epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("paths", nargs="*", default=["manifests"],
                       help="files or folders, read recursively (default: manifests); a subfolder with its own "
                            "expectations.yaml is checked as a separate manifest root")
    check.add_argument("--nodes", action="append", default=[],
                       help="node pool: a file or folder of Node objects or a List of them, e.g. the output of "
                            "`kubectl get nodes -o yaml` (repeatable; default: nodes/ beside the manifests)")
    check.add_argument("--expect", help="expectations file (kind: Expectations); default: expectations.yaml "
                                        "beside the manifests, else the documented defaults")
    check.add_argument("--import-apps", metavar="APP_DIR",
                       help="read the deployments of Serve apps that list none from their code, with Ray Serve's "
                            "`serve build IMPORT_PATH --app-dir APP_DIR` (imports the app; no cluster needed)")
    check.add_argument("--extended-resource-toleration", action="store_true",
                       help="the cluster runs the ExtendedResourceToleration admission plugin (GKE does): pods "
                            "get a NoSchedule toleration for each extended resource they request")
    check.add_argument("--format", choices=["text", "json"], default="text",
                       help="text for people, json for tools (errors are JSON too)")
    check.set_defaults(func=_check)
    cat = sub.add_parser("catalogue", help="list the rules")
    cat.set_defaults(func=_catalogue)
    cluster = sub.add_parser("cluster", help="the local kwok control plane: up | down | status | kubeconfig")
    cluster.add_argument("rest", nargs=argparse.REMAINDER)
    cluster.set_defaults(func=_cluster)
    pre = sub.add_parser("preflight", help="can this cluster run the suite? (exit 10-14: environment failures)")
    pre.add_argument("--kubeconfig", help="default: $KUBECONFIG")
    pre.add_argument("--manifests", default="manifests", help="where the expectations come from")
    pre.set_defaults(func=_preflight)
    cleanup = sub.add_parser("cleanup", help="stop Ray processes a killed run left behind (and, with "
                             "--kubeconfig, delete the namespaces it left in that cluster)")
    cleanup.add_argument("--kubeconfig", help="also delete namespaces labelled app.kubernetes.io/managed-by=gpuconf")
    cleanup.set_defaults(func=_cleanup)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 pass, 1 fail, 2 bad input)."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


def run() -> None:
    """The `gpuconf` console script."""
    sys.exit(main())
