"""The command line: `gpuconf check|catalogue|preflight|kwok|kind|cleanup` (also `python -m gpuconf`)."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuconf.errors import InputError

if TYPE_CHECKING:
    from gpuconf.static.check import CheckResult

EXIT_PASS, EXIT_FAIL, EXIT_INPUT = 0, 1, 2
# Nothing wrong found, but apps or deployments the static tier could not see (defined in code, or
# no Serve config): neither 0 nor 1, so CI can tell it apart (3 and 10-14 are environment failures).
EXIT_UNCHECKED = 4

CHECK_EPILOG = """\
kinds read:
  RayCluster, RayService (spec.rayClusterConfig + serveConfigV2), RayJob (spec.rayClusterSpec;
  clusterSelector is reported as using an existing cluster) at ray.io/v1, and ray.io/v1alpha1
  with a deprecation notice; Serve configs (`serve deploy` format); Node; Expectations
  (gpuconf/v1); `kind: List` of any of these (kubectl get ... -o yaml). Other kinds are
  skipped and listed as "not modelled". `-` reads them from stdin. A folder with Chart.yaml
  (helm template, --helm-values/--helm-set) or kustomization.yaml (kubectl kustomize) is
  rendered first; without the renderer installed it is exit 2 with the command to run.

suppressions (docs/ci.md):
  on the RayCluster/RayService/RayJob: annotations gpuconf.io/ignore: "RULE[,RULE]" and
  gpuconf.io/ignore-reason: "why"; in the expectations file: suppressions: [{rule, target,
  reason, expires: YYYY-MM-DD}]. Silenced findings stay in json/sarif output, marked.

defaults without an expectations file:
  a GPU node is a node with allocatable GPUs (nvidia.com/gpu, any *gpu resource, MIG slices);
  the GPU deployments are those with ray_actor_options.num_gpus > 0.

--fix / --fix --diff:
  apply each finding's fix to the manifests (comments and layout kept) and check again, or
  print the change as a unified diff and write nothing. Fixes that need a decision are named
  "no automatic fix: <why>" (docs/static-inputs.md lists them).

exit codes:
  0  pass: no error and no unchecked finding (with --fix: none left after fixing)
  1  fail: at least one error finding (each names file:line and the fix)
  2  bad input: malformed, unreadable or past a limit (file:line, what was expected, the fix)
  4  unchecked: no error finding, but apps or deployments whose resources were not seen
     (defined in code, or no Serve config given); each is named with the two ways to check
     it: --import-apps APP_DIR, or the live tier (make conformance MANIFESTS=DIR)

limits, input and output: docs/static-inputs.md
"""


FORMATS = ("text", "json", "sarif", "junit")


def _output_spec(value: str) -> tuple[str, str]:
    """`--output FORMAT=FILE`: one more format written to a file."""
    fmt, sep, file = value.partition("=")
    if not sep or fmt not in FORMATS or not file:
        raise argparse.ArgumentTypeError(f"expected FORMAT=FILE with FORMAT one of {', '.join(FORMATS)}, got {value!r}")
    return fmt, file


def _rendered(fmt: str, result: CheckResult) -> str:
    """The check's result in one output format (no trailing newline)."""
    if fmt == "json":
        return json.dumps(result.as_json(), indent=2)
    if fmt == "sarif":
        from gpuconf.static.sarif import to_sarif

        return json.dumps(to_sarif(result), indent=2)
    if fmt == "junit":
        from gpuconf.static.junit import to_junit

        return to_junit(result).rstrip("\n")
    from gpuconf.static.render import render_text

    return render_text(result)


def _rendered_error(fmt: str, *, exc: InputError) -> str:
    """Bad input in one output format."""
    if fmt == "json":
        return json.dumps({"verdict": "error", "error": _error_json(exc)})
    if fmt == "sarif":
        from gpuconf.static.sarif import error_sarif

        return json.dumps(error_sarif(exc), indent=2)
    if fmt == "junit":
        from gpuconf.static.junit import error_junit

        return error_junit(exc).rstrip("\n")
    return exc.render()


def _write_outputs(args: argparse.Namespace, render: Any) -> None:
    """Write each --output FORMAT=FILE (parent folders made); an unwritable file is said on stderr."""
    for fmt, file in args.output:
        path = Path(file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(fmt) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write --output {fmt}={file}: {exc.strerror}", file=sys.stderr)


def _check_paths(args: argparse.Namespace) -> list[Path] | None:
    """The paths to check: as given, or with --changed the folders of the changed manifests (None: none)."""
    if not args.changed:
        return [Path(p) for p in args.paths]
    from gpuconf.static.changed import folders_to_check

    return folders_to_check([Path(p) for p in args.paths]) or None


def _check(args: argparse.Namespace) -> int:
    from gpuconf.inputs.rendered import HelmOptions
    from gpuconf.static.check import run_check

    paths = _check_paths(args)
    if paths is None:
        print("nothing to check: no changed file is a manifest (RayCluster, RayService, RayJob, Serve config)")
        return EXIT_PASS
    try:
        if args.fix:
            _refuse_fix_on_streams(paths)
        result = run_check(
            paths,
            [Path(n) for n in args.nodes] or None,
            Path(args.expect) if args.expect else None,
            Path(args.import_apps) if args.import_apps else None,
            extended_resource_toleration=args.extended_resource_toleration,
            helm=HelmOptions(tuple(args.helm_values), tuple(args.helm_set), args.helm_release),
        )
    except InputError as exc:
        _print_input_error(args, exc)
        _write_outputs(args, functools.partial(_rendered_error, exc=exc))
        return EXIT_INPUT
    if args.fix:
        return _fix(args, result)
    print(_rendered(args.format, result))
    _write_outputs(args, lambda fmt: _rendered(fmt, result))
    return exit_code(result)


def _refuse_fix_on_streams(paths: list[Path]) -> None:
    """--fix edits files: a stream or a rendered chart has none to edit."""
    from gpuconf.inputs.rendered import STDIN, kind_of_folder

    for p in paths:
        if str(p) == STDIN or kind_of_folder(p):
            what = "standard input" if str(p) == STDIN else f"{p} (rendered by Helm or Kustomize)"
            raise InputError(
                None,
                f"--fix edits manifest files, and {what} is not one",
                "check without --fix and apply each finding's fix to the template, values or patch",
            )


def exit_code(result: CheckResult) -> int:
    """The exit code of a check's verdict: an error finding wins over anything unchecked."""
    from gpuconf.static.rules import UNCHECKED_VERDICT

    return {"fail": EXIT_FAIL, UNCHECKED_VERDICT: EXIT_UNCHECKED}.get(result.verdict, EXIT_PASS)


def _print_input_error(args: argparse.Namespace, exc: InputError) -> None:
    """Bad input: JSON on stdout with --format json; SARIF/JUnit on stdout and file:line on stderr; else stderr."""
    if args.format in ("json", "sarif", "junit"):
        print(_rendered_error(args.format, exc=exc))
    if args.format != "json":
        print(exc.render(), file=sys.stderr)


def _error_json(exc: InputError) -> dict[str, Any]:
    return {
        "file": exc.loc.file if exc.loc else None,
        "line": exc.loc.line if exc.loc else None,
        "message": exc.message,
        "refused_by": exc.refused_by,
        "fix": exc.fix,
    }


def _fix(args: argparse.Namespace, result: Any) -> int:
    """--fix: write the corrected manifests and check again; with --diff print the change only.

    With --format json one JSON object: the check's contract (of the files after fixing; with
    --diff, of the files as they are) plus `fix`: what was fixed, what was not and why, the files
    written (or the diff).
    """
    from gpuconf.static.check import run_check
    from gpuconf.static.fixes import fix_findings, outcomes_json, render_outcomes
    from gpuconf.static.render import render_text

    as_json = args.format == "json"
    fixed = fix_findings(result.plans, result.findings)
    report: dict[str, Any] = {"mode": "diff" if args.diff else "fix", **outcomes_json(fixed)}
    if not as_json:
        print(render_outcomes(fixed) or "nothing to fix")
    if args.diff:
        if as_json:
            print(json.dumps({**result.as_json(), "fix": {**report, "diff": fixed.diff()}}, indent=2))
        else:
            print(fixed.diff(), end="")
        _write_outputs(args, lambda fmt: _rendered(fmt, result))  # the files as they are: none was written
        return exit_code(result)
    fixed.write()
    report["written"] = list(fixed.changed)
    if not as_json:
        print(f"wrote {len(fixed.changed)} file(s): {', '.join(fixed.changed) or '-'}\nafter fixing:")
    try:
        again = run_check(
            [Path(p) for p in args.paths],
            [Path(n) for n in args.nodes] or None,
            Path(args.expect) if args.expect else None,
            Path(args.import_apps) if args.import_apps else None,
            extended_resource_toleration=args.extended_resource_toleration,
        )
    except InputError as exc:
        _write_outputs(args, functools.partial(_rendered_error, exc=exc))
        # The fixed files no longer read: say so, and which files were written.
        if as_json:
            print(json.dumps({"verdict": "error", "error": _error_json(exc), "fix": report}, indent=2))
        else:
            print(exc.render(), file=sys.stderr)
        return EXIT_INPUT
    if as_json:
        print(json.dumps({**again.as_json(), "fix": report}, indent=2))
    else:
        print(render_text(again))
    _write_outputs(args, lambda fmt: _rendered(fmt, again))
    return exit_code(again)


REGRESSIONS = Path(__file__).resolve().parents[1] / "manifests" / "regressions"


def catalogue_markdown(regressions: Path = REGRESSIONS) -> str:
    """The rule table of docs/rules.md, with the regression cases that trip each rule (tests/test_docs.py
    keeps the two the same)."""
    from gpuconf.static.regressions import discover
    from gpuconf.static.rules import CATALOGUE

    cases: dict[str, list[str]] = {}
    also: dict[str, list[str]] = {}
    for case in discover(regressions):
        cases.setdefault(case.rule, []).append(f"`{case.name}`")
        for rule_id in sorted(case.consequences):
            also.setdefault(rule_id, []).append(f"`{case.name}`")
    for rule_id, names in also.items():  # a consequence is named after the cases that trip the rule itself
        cases.setdefault(rule_id, []).append(f"consequence in {', '.join(names)}")
    pipe = "\\|"  # a | inside a cell
    rows = [
        f"| `{r.id}` | {r.severity} | {r.summary.replace('|', pipe)} | {', '.join(cases.get(r.id, [])) or '-'} |"
        for r in CATALOGUE
    ]
    return "\n".join(["| rule | severity | what it catches | regression cases |", "|---|---|---|---|", *rows]) + "\n"


def _catalogue(args: argparse.Namespace) -> int:
    from gpuconf.static.rules import CATALOGUE

    if args.markdown:
        print(catalogue_markdown(), end="")
        return EXIT_PASS
    for r in CATALOGUE:
        print(f"{r.id:<22} {r.severity:<9} {r.summary}")
    return EXIT_PASS


def _kwok(args: argparse.Namespace) -> int:
    from gpuconf.provision.kwok import cli as kwok_cli

    return kwok_cli.run(args)


def _kind(args: argparse.Namespace) -> int:
    from gpuconf.provision.kind import cli as kind_cli

    return kind_cli.run(args)


def _preflight(args: argparse.Namespace) -> int:
    import os

    from gpuconf.inputs.manifests import load_inputs
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
    try:
        results = run_preflight(kubeconfig, expectations)
    except InputError as exc:  # a malformed kubeconfig is bad input, not an absent cluster
        print(exc.render(), file=sys.stderr)
        return EXIT_INPUT
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.check:<16} {r.message}" + ("" if r.ok else f"\n     fix: {r.fix}"))
    code = exit_code(results)
    print("preflight: " + ("passed" if code == 0 else f"environment failure (exit {code})"))
    return code


def _cleanup(args: argparse.Namespace) -> int:
    from gpuconf.backends.localray.ownership import cleanup_orphans

    report = cleanup_orphans()
    for run_id, temp_dir, stopped in report.removed:
        print(f"removed run {run_id}: its owner is gone; stopped {stopped} process(es), deleted {temp_dir}")
    for run_id, temp_dir, pid in report.kept:
        print(f"kept run {run_id} ({temp_dir}): its owner, pid {pid}, is alive")
    if not report.removed:
        print("no local run left behind")
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
        "check",
        help="static check of manifests: can the ML service land only on GPU nodes?",
        description="Plan the manifests as KubeRay, the Kubernetes scheduler and Ray would, and run the rule "
        "catalogue (gpuconf catalogue) over the plan. Nothing is deployed; no cluster is needed.",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "paths",
        nargs="*",
        default=["manifests"],
        help="files or folders, read recursively (default: manifests); a subfolder with its own "
        "expectations.yaml is checked as a separate manifest root; `-` reads a YAML stream from stdin "
        "(`helm template ... | gpuconf check -`); a folder with Chart.yaml or kustomization.yaml is "
        "rendered with helm or kubectl kustomize first",
    )
    check.add_argument(
        "--nodes",
        action="append",
        default=[],
        help="node pool: a file or folder of Node objects or a List of them, e.g. the output of "
        "`kubectl get nodes -o yaml` (repeatable; default: nodes/ beside the manifests)",
    )
    check.add_argument(
        "--expect",
        help="expectations file (kind: Expectations); default: expectations.yaml "
        "beside the manifests, else the documented defaults",
    )
    check.add_argument(
        "--import-apps",
        metavar="APP_DIR",
        help="read the deployments of Serve apps that list none from their code, with Ray Serve's "
        "`serve build IMPORT_PATH --app-dir APP_DIR` (imports the app; no cluster needed)",
    )
    check.add_argument(
        "--fix",
        action="store_true",
        help="apply each finding's fix to the manifests in place (comments and layout kept), "
        "then check again; findings that need a decision say `no automatic fix: <why>`",
    )
    check.add_argument(
        "--diff", action="store_true", help="with --fix: print the fixes as a unified diff and write nothing"
    )
    check.add_argument(
        "--extended-resource-toleration",
        action="store_true",
        help="the cluster runs the ExtendedResourceToleration admission plugin (GKE does): pods "
        "get a NoSchedule toleration for each extended resource they request",
    )
    check.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="on stdout: text for people, json for tools (errors are JSON too), sarif (2.1.0, for "
        "GitHub code scanning), junit (XML, one testcase per rule and target)",
    )
    check.add_argument(
        "--output",
        action="append",
        default=[],
        type=_output_spec,
        metavar="FORMAT=FILE",
        help="also write FORMAT (text, json, sarif, junit) to FILE; repeatable, e.g. "
        "--output sarif=gpuconf.sarif --output json=gpuconf.json (stdout keeps --format)",
    )
    check.add_argument(
        "--helm-values",
        action="append",
        default=[],
        metavar="FILE",
        help="values file for the Helm charts among the paths (helm template -f FILE; repeatable)",
    )
    check.add_argument(
        "--helm-set",
        action="append",
        default=[],
        metavar="K=V",
        help="a value for the Helm charts among the paths (helm template --set K=V; repeatable)",
    )
    check.add_argument("--helm-release", metavar="NAME", help="Helm release name (default: the chart's name)")
    check.add_argument(
        "--changed",
        action="store_true",
        help="the paths are changed files (pre-commit passes them): check the folder (manifest root, "
        "chart or Kustomize folder) of each changed manifest; other files are ignored",
    )
    check.set_defaults(func=_check)
    cat = sub.add_parser("catalogue", help="list the rules")
    cat.add_argument("--markdown", action="store_true", help="the rule table as Markdown (docs/rules.md)")
    cat.set_defaults(func=_catalogue)
    from gpuconf.provision.kind import cli as kind_cli
    from gpuconf.provision.kwok import cli as kwok_cli

    kwok = sub.add_parser(
        "kwok",
        help="the local kwok control plane (kwok backend): up | down | status | kubeconfig | exec | build | pin",
        description=kwok_cli.DESCRIPTION,
    )
    kwok_cli.configure(kwok)
    kwok.set_defaults(func=_kwok)
    kind = sub.add_parser(
        "kind",
        help="a local kind cluster with a fake GPU node (cluster backend): up | down | status",
        description=kind_cli.DESCRIPTION,
    )
    kind_cli.configure(kind)
    kind.set_defaults(func=_kind)
    pre = sub.add_parser("preflight", help="can this cluster run the suite? (exit 10-14: environment failures)")
    pre.add_argument("--kubeconfig", help="default: $KUBECONFIG")
    pre.add_argument("--manifests", default="manifests", help="where the expectations come from")
    pre.set_defaults(func=_preflight)
    cleanup = sub.add_parser(
        "cleanup",
        help="stop the Ray processes and delete the temp dirs of runs whose owner is gone (and, with "
        "--kubeconfig, delete the namespaces it left in that cluster)",
    )
    cleanup.add_argument("--kubeconfig", help="also delete namespaces labelled app.kubernetes.io/managed-by=gpuconf")
    cleanup.set_defaults(func=_cleanup)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 pass, 1 fail, 2 bad input, 4 unchecked)."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


def run() -> None:
    """The `gpuconf` console script."""
    sys.exit(main())
