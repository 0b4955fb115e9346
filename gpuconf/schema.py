"""Schema validation with the real schemas: Kubernetes' (kubernetes-validate) and Ray Serve's."""

from __future__ import annotations

import warnings
from typing import Any

import kubernetes_validate
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from gpuconf.errors import InputError
from gpuconf.loader import LDict, loc_of, plain

# The Kubernetes schema version the manifests are validated against.
KUBERNETES_SCHEMA_VERSION = "1.34"


def validate_k8s_object(obj: LDict, what: str) -> None:
    """Validate a built-in Kubernetes object (strict: unknown fields are errors)."""
    try:
        kubernetes_validate.validate(dict(obj), KUBERNETES_SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = list(exc.path)
        raise InputError(loc_of(obj, *path), f"{what}: {_jsonschema_message(exc, path)}",
                         "see the Kubernetes API reference for this field") from None


def validate_pod_template(template: LDict, what: str) -> None:
    """Validate a pod template (as found in a RayCluster group) with the PodTemplate schema."""
    wrapper = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "gpuconf-check"}, "template": template}
    try:
        kubernetes_validate.validate(wrapper, KUBERNETES_SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = list(exc.path)[1:]  # drop the wrapper's "template"
        raise InputError(loc_of(template, *path), f"{what}: {_jsonschema_message(exc, path)}",
                         "see the Kubernetes API reference for PodSpec") from None


def _jsonschema_message(exc: Any, path: list[Any]) -> str:
    field = ".".join(str(p) for p in path) or "(object)"
    reason = exc.message.splitlines()[0]
    if "Additional properties are not allowed" in reason:
        return f"unknown field under `{field}` ({reason})"
    return f"`{field}`: {reason}"


def validate_serve_config(body: LDict) -> None:
    """Validate a Serve config with Ray's own ServeDeploySchema, plus unknown-key checks."""
    from ray.serve.schema import DeploymentSchema, RayActorOptionsSchema, ServeApplicationSchema, ServeDeploySchema

    _unknown_keys(body, ServeDeploySchema, ())
    for i, app in enumerate(body.get("applications") or []):
        if isinstance(app, dict):
            _unknown_keys(body, ServeApplicationSchema, ("applications", i))
            for j, dep in enumerate(app.get("deployments") or []):
                if isinstance(dep, dict):
                    _unknown_keys(body, DeploymentSchema, ("applications", i, "deployments", j))
                    if isinstance(dep.get("ray_actor_options"), dict):
                        _unknown_keys(body, RayActorOptionsSchema,
                                      ("applications", i, "deployments", j, "ray_actor_options"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ServeDeploySchema.model_validate(plain(body))
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        path = list(err.get("loc", ()))
        field = ".".join(str(p) for p in path)
        raise InputError(loc_of(body, *path), f"Serve config `{field}`: {err.get('msg')}",
                         "see Ray Serve's config reference (ServeDeploySchema)") from None


def _unknown_keys(root: LDict, model: type[BaseModel], path: tuple[Any, ...]) -> None:
    obj: Any = root
    for step in path:
        obj = obj[step]
    known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    for key in obj:
        if key not in known:
            raise InputError(loc_of(root, *path, key), f"unknown Serve config field `{key}` in {model.__name__}",
                             f"known fields: {', '.join(sorted(known))}")
