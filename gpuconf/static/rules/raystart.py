"""Rules on the `ray start` command KubeRay builds from rayStartParams (its `bash -c` and its JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from gpuconf.model.kuberay import is_gpu_resource
from gpuconf.model.plan import Plan
from gpuconf.model.resources_json import ResourcesJsonError, intended_resources, ray_start_resources
from gpuconf.model.shell import bash_words
from gpuconf.static.catalogue import ERROR, Finding, rule
from gpuconf.static.rules.common import at_group


@rule("SHELL-SPLIT", ERROR, "a rayStartParams value that KubeRay's `bash -c` splits or unquotes into something else")
def _shell_split(plan: Plan) -> Iterator[Finding]:
    for g in plan.groups:
        for key, value in g.params.items():
            try:
                # A sentinel after the value shows whether bash swallowed the rest (a `#` comment).
                words = bash_words(f"--{key}={value} --gpuconf-sentinel")
            except ValueError as exc:
                words, note = [], f"bash cannot parse it ({exc})"
            else:
                note = ""
                if words[-1:] != ["--gpuconf-sentinel"]:
                    note = f"bash reads `#` in `--{key}={value}` as a comment: every later parameter is lost"
                words = words[:-1]
            after = words[0][len(key) + 3 :] if len(words) == 1 else None
            broken_json = key == "resources" and after is not None and not _is_json_object(after)
            if len(words) == 1 and not broken_json and not note:
                continue
            seen = note or (
                f"bash -c splits `--{key}={value}` into {len(words)} arguments {words}"
                if len(words) != 1
                else f"after bash's quote removal ray start gets --{key}={after}, which is not JSON"
            )
            yield Finding(
                at_group(plan, g, "rayStartParams", key),
                f"group {g.label}: rayStartParams.{key}: {seen}; `ray start` fails and the pod never joins the cluster",
                f"""quote the JSON for the shell in single quotes: {key}: "'{_json_escaped(after or value)}'"  """
                "(or, on KubeRay >= 1.5, use the group-level `resources:` field)",
                evidence={"value": value, "argv": words, "command": g.command.strip()},
            )


def _is_json_object(text: str) -> bool:
    try:
        ray_start_resources(text)
    except ResourcesJsonError:
        return False
    return True


def _json_escaped(text: str) -> str:
    meant = intended_resources(text)
    fallback = text if text.startswith("{") else '{"gpu_worker": 1}'
    canonical = json.dumps(meant) if meant is not None else fallback
    return canonical.replace('"', '\\"')


@rule("KUBERAY-RESOURCES-JSON", ERROR, "KubeRay cannot read rayStartParams.resources as JSON, so it drops --num-gpus")
def _kuberay_json(plan: Plan) -> Iterator[Finding]:
    from gpuconf.model.kuberay import kuberay_resources_json_error

    for g in plan.groups:
        problem = kuberay_resources_json_error(g.params)
        if problem is None or g.gpu_limit(is_gpu_resource) == 0 or "num-gpus" in g.params:
            continue
        res = ", ".join(sorted(k for k, v in g.container_limits.items() if is_gpu_resource(k) and v > 0))
        yield Finding(
            at_group(plan, g, "rayStartParams", "resources"),
            f"group {g.label}: KubeRay trims quotes from rayStartParams.resources and parses it as JSON "
            f"before adding --num-gpus from the {res} limit; {problem}, so the generated `ray start` has "
            "no --num-gpus and Ray's GPU count falls back to whatever the container happens to see "
            "(0 on fake-GPU nodes such as kind)",
            """write it so that both KubeRay and bash read JSON: resources: "'{\\"gpu_worker\\": 1}'" """
            """(or set num-gpus: "1" explicitly)""",
            evidence={"value": g.params.get("resources"), "command": g.command.strip()},
        )


@rule("RAY-START", ERROR, "the generated `ray start` command fails for a reason other than shell splitting")
def _ray_start(plan: Plan) -> Iterator[Finding]:
    split = {(f.evidence.get("command")) for f in _shell_split(plan)}
    for g in plan.groups:
        if g.start.error and g.command.strip() not in split:
            yield Finding(
                at_group(plan, g, "rayStartParams"),
                f"group {g.label}: {g.start.error}",
                g.start.refusal.fix if g.start.refusal else "fix the rayStartParams value named above",
                evidence={"command": g.command.strip()},
            )
