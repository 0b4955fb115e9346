"""What the Serve config leaves unseen: apps whose deployments are defined in code.

A Serve app listed without `deployments:` takes its replicas' resources from
`@serve.deployment(...)` in its code, which a static check cannot read. Passing such an app
would be a pass over nothing, and failing it would call working code broken: each one is
UNCHECKED (exit 4 when nothing else is wrong), named with the ways to check it.
"""

from __future__ import annotations

from collections.abc import Iterator

from gpuconf.inputs.loader import get
from gpuconf.model.llm import llm_configs
from gpuconf.model.plan import Plan
from gpuconf.static.catalogue import UNCHECKED, Finding, rule
from gpuconf.static.rules.common import at_object

RULE_ID = "SERVE-APP-UNSEEN"
# The two ways to check what was left unchecked: (command, what it does).
CHECK_WITH: tuple[tuple[str, str], ...] = (
    (
        "gpuconf check --import-apps APP_DIR PATH...",
        "with the Serve config among the paths: imports the app's code the way `serve build` does "
        "and checks the deployments it defines",
    ),
    ("make conformance MANIFESTS=DIR", "the live tier: deploys the app and checks the options as deployed"),
)


@rule(RULE_ID, UNCHECKED, "a Serve app's deployments are defined only in code: their resources were not seen")
def unseen_apps(plan: Plan) -> Iterator[Finding]:
    """One finding per app of the Serve config that lists no deployments."""
    body = plan.target.serve.body
    for i, app in enumerate(get(body, "applications", default=[]) or []):
        if not isinstance(app, dict) or app.get("deployments"):
            continue
        if llm_configs(app) is not None:
            continue  # a ray.serve.llm app: its deployments come from args.llm_configs (gpuconf.model.llm)
        name = str(app.get("name", "default"))
        import_path = app.get("import_path", "?")
        expected = [e.deployment for e in plan.expectations.gpu_deployments if e.app == name]
        also = f" (the expectations' GPU deployment(s) {', '.join(expected)} among them)" if expected else ""
        yield Finding(
            at_object(body, "applications", i),
            f"app {name!r} ({import_path}) lists no `deployments:`: their num_gpus/num_cpus are set in "
            f"@serve.deployment(...) in code, so where its replicas land was not checked{also}",
            "run `gpuconf check --import-apps APP_DIR` to read them with `serve build`, check it live "
            "(make conformance MANIFESTS=DIR), or declare each deployment under the app: "
            "`deployments: [{name: MyDeployment, ray_actor_options: {num_gpus: 1}}]`",
            evidence={
                "app": name,
                "deployment": None,
                "import_path": import_path,
                "path": ["applications", i],
                "expected_gpu_deployments": expected,
            },
        )
