"""Schema validation with the real schemas: Kubernetes' (kubernetes-validate) and Ray Serve's."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from gpuconf.errors import ApiServerRefusal, ServeRefusal
from gpuconf.inputs.loader import LDict, loc_of, plain

# The Kubernetes schema version the manifests are validated against.
KUBERNETES_SCHEMA_VERSION = "1.34"


@functools.cache
def schema_folder() -> str:
    """kubernetes-validate's folder of strict schemas for KUBERNETES_SCHEMA_VERSION."""
    from kubernetes_validate import utils

    version = [v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(KUBERNETES_SCHEMA_VERSION)][
        -1
    ]
    return f"kubernetes-json-schema/v{version}-local-strict"


@functools.cache
def _k8s_validator(kind: str, api_version: str) -> Any:
    """kubernetes-validate's strict schema for one kind, compiled once (it reloads every file per call)."""
    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    folder = schema_folder()
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = utils.schema_contents(f"{folder}/{kind.lower()}-{group}.json", KUBERNETES_SCHEMA_VERSION)
    defs = utils.schema_contents(f"{folder}/_definitions.json", KUBERNETES_SCHEMA_VERSION)
    registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


# (schema, instance as canonical JSON) of instances found valid in this process.
_KNOWN_VALID: set[tuple[str, str]] = set()
_KNOWN_VALID_MAX = 10_000


def schema_errors(schema_id: str, validator: Any, instance: Any) -> list[Any]:
    """`validator.iter_errors(instance)` as a list; an instance found valid before against the same
    schema is not walked again (a folder of clusters repeats its pod templates and Serve configs)."""
    try:
        key: tuple[str, str] | None = (schema_id, json.dumps(instance, sort_keys=True))
    except (TypeError, ValueError):
        key = None  # keys of mixed types: validate every time
    if key is not None and key in _KNOWN_VALID:
        return []
    errors = list(validator.iter_errors(instance))
    if not errors and key is not None:
        if len(_KNOWN_VALID) >= _KNOWN_VALID_MAX:
            _KNOWN_VALID.clear()
        _KNOWN_VALID.add(key)
    return errors


def _k8s_validate(obj: dict[str, Any]) -> None:
    import jsonschema

    kind, api = str(obj["kind"]), str(obj["apiVersion"])
    errors = schema_errors(f"{kind} {api}", _k8s_validator(kind, api), obj)
    error = jsonschema.exceptions.best_match(errors)
    if error is not None:
        raise error


def validate_k8s_object(obj: LDict, what: str) -> None:
    """Validate a built-in Kubernetes object (strict: unknown fields are errors)."""
    import jsonschema

    try:
        _k8s_validate(plain(obj))
    except jsonschema.ValidationError as exc:
        path = list(exc.path)
        raise ApiServerRefusal(
            loc_of(obj, *path),
            f"{what}: {_jsonschema_message(exc, path)}",
            "see the Kubernetes API reference for this field",
        ) from None


def validate_pod_template(template: LDict, what: str) -> None:
    """Validate a pod template (as found in a RayCluster group) with the PodTemplate schema."""
    import jsonschema

    wrapper = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": "gpuconf-check"},
        "template": plain(template),
    }
    try:
        _k8s_validate(wrapper)
    except jsonschema.ValidationError as exc:
        path = list(exc.path)[1:]  # drop the wrapper's "template"
        raise ApiServerRefusal(
            loc_of(template, *path),
            f"{what}: {_jsonschema_message(exc, path)}",
            "see the Kubernetes API reference for PodSpec",
        ) from None


def _jsonschema_message(exc: Any, path: list[Any]) -> str:
    field = ".".join(str(p) for p in path) or "(object)"
    reason = exc.message.splitlines()[0]
    if "Additional properties are not allowed" in reason:
        return f"unknown field under `{field}` ({reason})"
    return f"`{field}`: {reason}"


_VALIDATOR: Any = None


def _serve_validator() -> Any:
    global _VALIDATOR
    if _VALIDATOR is None:
        import jsonschema

        from gpuconf.inputs.serve_schema import load_schema

        _VALIDATOR = jsonschema.Draft202012Validator(load_schema())
    return _VALIDATOR


def validate_serve_config(body: LDict, local_working_dirs: bool = False) -> None:
    """Validate a Serve config against Ray's ServeDeploySchema (its exported JSON Schema; unknown keys are errors).

    ``local_working_dirs``: a local path as an app's ``runtime_env.working_dir`` is fine (a Serve config
    file, which ``serve run`` and the live tier upload); a RayService's config goes to the dashboard,
    which refuses it.
    """
    errors = schema_errors("ServeDeploySchema", _serve_validator(), plain(body))
    if not errors:
        _check_autoscaling_keys(body)
        # The schema is fine: now Ray's own validators, which JSON Schema cannot express.
        from gpuconf.inputs.serve_validators import validate_with_ray

        validate_with_ray(body, local_working_dirs)
        return
    err = min(errors, key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = set(err.schema.get("properties") or {})
        unknown = [k for k in err.instance if k not in known]
        key = unknown[0] if unknown else "?"
        raise ServeRefusal(
            loc_of(body, *path, key),
            f"unknown Serve config field `{key}`{' under `' + '.'.join(map(str, path)) + '`' if path else ''}",
            f"known fields: {', '.join(sorted(known))}",
        )
    field = ".".join(str(p) for p in path) or "(config)"
    message = err.message if len(err.message) < 200 else err.message[:200] + "..."
    raise ServeRefusal(
        loc_of(body, *path),
        f"Serve config `{field}`: {message}",
        "see Ray Serve's config reference (ServeDeploySchema)",
    )


def _check_autoscaling_keys(body: LDict) -> None:
    """A key inside `autoscaling_config` that Ray's AutoscalingConfig does not know is bad input.

    DeploymentSchema types autoscaling_config as an open dict and AutoscalingConfig ignores unknown
    keys, so `max_ongoing_requests` written there (ray-project/ray#61439) is dropped without a
    word. The fields come from the exported schema (gpuconf.inputs.serve_schema), not from Ray.
    """
    from gpuconf.inputs.serve_schema import AUTOSCALING_FIELDS_KEY, load_schema

    schema = load_schema()
    known = set(schema.get(AUTOSCALING_FIELDS_KEY) or ())
    if not known:
        return  # an export without the list: nothing to compare with
    defs = schema.get("$defs", {})
    deployment_fields = set(defs.get("DeploymentSchema", {}).get("properties", {}))
    actor_fields = set(defs.get("RayActorOptionsSchema", {}).get("properties", {}))
    apps = body.get("applications")
    for i, app in enumerate(apps if isinstance(apps, list) else []):
        deps = app.get("deployments") if isinstance(app, dict) else None
        for j, dep in enumerate(deps if isinstance(deps, list) else []):
            auto = dep.get("autoscaling_config") if isinstance(dep, dict) else None
            if not isinstance(auto, dict):
                continue
            for key in auto:
                if key in known:
                    continue
                where = f"applications[{i}].deployments[{j}]"
                raise ServeRefusal(
                    loc_of(body, "applications", i, "deployments", j, "autoscaling_config", key),
                    f"unknown key `{key}` under `{where}.autoscaling_config`: Ray's AutoscalingConfig "
                    "ignores it without a word (ray-project/ray#61439), so it has no effect",
                    _belongs(str(key), where, deployment_fields, actor_fields, known),
                )


def _belongs(key: str, where: str, deployment: set[str], actor: set[str], autoscaling: set[str]) -> str:
    """Where a misplaced autoscaling_config key goes."""
    import difflib

    if key in deployment:
        return f"move `{key}` up one level: it is a deployment option (`{where}.{key}`), beside autoscaling_config"
    if key in actor:
        return f"move `{key}` under `{where}.ray_actor_options`: it is a Ray actor option"
    close = difflib.get_close_matches(key, sorted(autoscaling), n=1)
    if close:
        return f"did you mean `{close[0]}`? autoscaling_config fields: {', '.join(sorted(autoscaling))}"
    return f"remove it; autoscaling_config fields: {', '.join(sorted(autoscaling))}"
