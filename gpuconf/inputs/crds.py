"""KubeRay's own CRD schemas: RayCluster, RayService and RayJob as `kubectl apply` has them checked.

The openAPIV3Schema of each kind and served version of KubeRay's CRDs
(ray-operator/config/crd/bases/ray.io_{rayclusters,rayservices,rayjobs}.yaml at KUBERAY_VERSION)
is shipped as JSON under gpuconf/inputs/data/ and validated the way the API server's
apiextensions handler does for a create (k8s.io/apiextensions-apiserver, pkg/apiserver/schema):

- a non-nullable field given as `null` takes its default, or is dropped when it has none
  (structural defaulting, `defaulting/algorithm.go` and `prunenulls.go`); missing fields take
  their defaults before `required` is checked;
- unknown fields are errors, as kubectl's default `--validate=strict` asks the server
  (field validation Strict: "strict decoding error: unknown field");
- `format: int32`/`int64` bound integers as the Go types do;
- `metadata` is validated as an ObjectMeta (the CRD says only `type: object`), and its name as a
  DNS-1123 subdomain (`validation.NameIsDNSSubdomain`, apiextensions `customresource/validator.go`);
- `status` is not validated: with the status subresource a create ignores it.

The pod templates of the head and worker groups are left to gpuconf.inputs.schema (the Kubernetes
PodTemplate schema, one message per error), so the CRD's copy of the pod schema is not applied
there. Regenerate the data with `python -m gpuconf.inputs.crds MODULE_DIR` (MODULE_DIR: the
ray-operator module, e.g. from `go mod download -json github.com/ray-project/kuberay/ray-operator@v1.5.0`).
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
import sys
from pathlib import Path
from typing import Any

from gpuconf.errors import ApiServerRefusal, InputError, KubeRayRefusal
from gpuconf.inputs.loader import LDict, loc_of, plain
from gpuconf.inputs.schema import schema_errors

# Pinned in build/versions.env (KUBERAY_VERSION); tests/test_inputs_crds.py keeps the two equal.
KUBERAY_VERSION = "v1.5.0"
DATA = Path(__file__).parent / "data"
PLURALS = {"RayCluster": "rayclusters", "RayService": "rayservices", "RayJob": "rayjobs"}
# Where the embedded RayClusterSpec sits in each kind.
CLUSTER_SPEC = {
    "RayCluster": ("spec",),
    "RayService": ("spec", "rayClusterConfig"),
    "RayJob": ("spec", "rayClusterSpec"),
}
_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_KUBECTL = "the API server refuses it on `kubectl apply` (KubeRay {v} CRD schema{extra})"


def schema_path(kind: str, version: str) -> Path:
    """The shipped openAPIV3Schema of one kind and version (`v1`, `v1alpha1`)."""
    return DATA / f"kuberay-{KUBERAY_VERSION}-{PLURALS[kind]}-{version}.json"


def extract(module_dir: Path) -> dict[tuple[str, str], Any]:
    """The openAPIV3Schema of each kind and served version, read from the module's CRD files."""
    from gpuconf.inputs.loader import kubectl_loader

    out: dict[tuple[str, str], Any] = {}
    for kind, plural in PLURALS.items():
        path = module_dir / "config" / "crd" / "bases" / f"ray.io_{plural}.yaml"
        crd = plain(yaml_load(path.read_text(encoding="utf-8"), kubectl_loader(str(path))))
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                out[(kind, version["name"])] = version["schema"]["openAPIV3Schema"]
    return out


def yaml_load(text: str, loader: type) -> Any:
    """One YAML document read with the given loader class."""
    import yaml

    return yaml.load(text, Loader=loader)


def write(module_dir: Path) -> list[Path]:
    """Write the shipped JSON files from the module's CRDs (the data is generated, never edited)."""
    written = []
    for (kind, version), schema in sorted(extract(module_dir).items()):
        path = schema_path(kind, version)
        path.write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
        written.append(path)
    return written


@functools.cache
def shipped(kind: str, version: str) -> Any:
    """The shipped schema as it came from the CRD."""
    return json.loads(schema_path(kind, version).read_text(encoding="utf-8"))


def _prepare(node: Any, path: tuple[str, ...]) -> Any:
    """The CRD schema as a JSON Schema with the API server's semantics (see the module docstring)."""
    if isinstance(node, list):
        return [_prepare(n, path) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _prepare(v, (*path, k)) for k, v in node.items() if k != "description"}
    props = out.get("properties")
    # Strict field validation: a field the schema does not list is an error (unless it keeps unknowns).
    if (
        isinstance(props, dict)
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if out.get("type") == "integer" and out.get("format") in _INT_RANGE:
        low, high = _INT_RANGE[out["format"]]
        out.setdefault("minimum", low)
        out.setdefault("maximum", high)
    for rule in out.get("x-kubernetes-validations") or []:
        # `self in ['a', 'b']` (managedBy): the one CEL form these CRDs use on a create, as an enum.
        m = re.fullmatch(r"self in \[(.*)\]", str(rule.get("rule", "")))
        if m:
            out["enum"] = re.findall(r"'([^']*)'", m.group(1))
    return out


def _stub_templates(schema: dict[str, Any], kind: str) -> None:
    """Leave the groups' pod templates to the Kubernetes PodTemplate schema (gpuconf.inputs.schema)."""
    node = schema
    for step in CLUSTER_SPEC[kind]:
        node = node["properties"][step]
    node["properties"]["headGroupSpec"]["properties"]["template"] = {"type": "object"}
    node["properties"]["workerGroupSpecs"]["items"]["properties"]["template"] = {"type": "object"}
    schema["properties"]["metadata"] = {"type": "object"}
    schema["properties"].pop("status", None)


@functools.cache
def _validator(kind: str, version: str) -> Any:
    import jsonschema

    schema = _prepare(copy.deepcopy(shipped(kind, version)), ())
    _stub_templates(schema, kind)
    return jsonschema.Draft7Validator(schema)


@functools.cache
def _object_meta_validator() -> Any:
    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    from gpuconf.inputs.schema import KUBERNETES_SCHEMA_VERSION, schema_folder

    defs = utils.schema_contents(f"{schema_folder()}/_definitions.json", KUBERNETES_SCHEMA_VERSION)
    registry = Resource.from_contents(defs) @ Registry()
    ref = {"$ref": f"{defs['$id']}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    return jsonschema.Draft202012Validator(ref, registry=registry)


def _defaults_and_nulls(inst: Any, schema: Any, skip: set[int]) -> None:
    """Structural defaulting on a create: nulls in non-nullable fields take the default or go; missing fields take it."""
    if not isinstance(inst, dict) or not isinstance(schema, dict) or id(inst) in skip:
        if isinstance(inst, list) and isinstance(schema, dict) and isinstance(schema.get("items"), dict):
            for item in inst:
                _defaults_and_nulls(item, schema["items"], skip)
        return
    props = schema.get("properties") or {}
    for key, sub in props.items():
        if not isinstance(sub, dict):
            continue
        if key in inst and inst[key] is None and not sub.get("nullable"):
            if "default" in sub:
                inst[key] = copy.deepcopy(sub["default"])
            else:
                del inst[key]
                if isinstance(inst, LDict):
                    inst.key_locs.pop(key, None)
        elif key not in inst and "default" in sub and not isinstance(inst, LDict):
            inst[key] = copy.deepcopy(sub["default"])
        if key in inst:
            _defaults_and_nulls(inst[key], sub, skip)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in [k for k in inst if k not in props]:
            _defaults_and_nulls(inst[key], extra, skip)


def _templates(doc: LDict, kind: str) -> list[Any]:
    """The groups' pod templates of the document (left to the PodTemplate schema)."""
    spec: Any = doc
    for step in CLUSTER_SPEC[kind]:
        spec = spec.get(step) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return []
    out = [g.get("template") for g in [spec.get("headGroupSpec")] if isinstance(g, dict)]
    workers = spec.get("workerGroupSpecs")
    out += [g.get("template") for g in (workers if isinstance(workers, list) else []) if isinstance(g, dict)]
    return [t for t in out if isinstance(t, dict)]


def k8s_path(path: list[Any]) -> str:
    """A field path as the API server writes it: `spec.workerGroupSpecs[0].maxReplicas`."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "(object)"


def validate_ray_object(doc: LDict, kind: str, api: str) -> None:
    """Validate a RayCluster, RayService or RayJob as the API server does on `kubectl apply` (strict).

    Nulls are defaulted or dropped in `doc` itself, as the server stores the object; the pod
    templates are not touched (gpuconf.inputs.schema validates them).
    """
    version = api.split("/", 1)[1]
    raw = shipped(kind, version)
    skip = {id(t) for t in _templates(doc, kind)}
    _defaults_and_nulls(doc, raw, skip)
    meta = doc.get("metadata")
    if meta is None:
        raise ApiServerRefusal(doc.loc, f"{kind} has no `metadata`", "add `metadata: {name: ...}`")
    _validate_metadata(doc, kind)
    instance = plain(doc)
    instance.pop("status", None)
    _defaults_and_nulls(instance, raw, set())
    # The schema takes any metadata object (_stub_templates): clusters that differ only in name validate once.
    same_shape = {**instance, "metadata": {}} if isinstance(instance.get("metadata"), dict) else instance
    errors = schema_errors(f"KubeRay {kind} {version}", _validator(kind, version), same_shape)
    if errors:
        raise _first_error(doc, kind, errors)


def _line(doc: LDict, path: list[Any]) -> int:
    loc = loc_of(doc, *path)
    return loc.line if loc else 0


def _first_error(doc: LDict, kind: str, errors: list[Any]) -> InputError:
    """The error the user meets first in the file, worded as the API server words it."""
    best = min(errors, key=lambda e: (_line(doc, _error_path(e)), len(e.absolute_path)))
    path = list(best.absolute_path)
    where = _KUBECTL.format(v=KUBERAY_VERSION, extra="")
    if best.validator == "additionalProperties" and isinstance(best.instance, dict):
        known = sorted(best.schema.get("properties") or {})
        unknown = [k for k in best.instance if k not in known]
        key = min(unknown, key=lambda k: _line(doc, [*path, k])) if unknown else "?"
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        fix = f"did you mean `{close[0]}`?" if close else f"known fields here: {', '.join(known)}"
        return ApiServerRefusal(
            loc_of(doc, *path, key),
            f"{kind}: unknown field {k8s_path([*path, key])!r} (strict decoding error): " + where,
            fix + " (kubectl apply checks fields strictly by default; --validate=false would drop it without a word)",
        )
    field_ = k8s_path(path)
    value = best.instance
    if best.validator == "type":
        want = best.validator_value
        want = " or ".join(w for w in want if w != "null") if isinstance(want, list) else want
        shown = _go_type(value)
        message = f'{field_}: Invalid value: "{shown}": {field_} in body must be of type {want}: "{shown}"'
        key = path[-1] if path and isinstance(path[-1], str) else field_
        example = {"integer": "1", "boolean": "true", "number": "1", "object": "{}", "array": "[]"}.get(
            str(want), f'"{_scalar(value)}"'
        )
        fix = f"write it as {'an' if str(want)[0] in 'aeiou' else 'a'} {want}, e.g. `{key}: {example}`"
    elif best.validator in ("minimum", "maximum"):
        bound = best.validator_value
        op = "greater than or equal to" if best.validator == "minimum" else "less than or equal to"
        message = f"{field_}: Invalid value: {value!r}: {field_} in body should be {op} {bound}"
        key = path[-1] if path and isinstance(path[-1], str) else field_
        fix = f"use a value {'>=' if best.validator == 'minimum' else '<='} {bound}, e.g. `{key}: {min(max(bound, 0), 1)}`"
        if bound in (2**31 - 1, -(2**31)):
            fix += " (an int32 field)"
    elif best.validator == "enum":
        choices = ", ".join(f'"{c}"' for c in best.validator_value)
        message = f"{field_}: Unsupported value: {value!r}: supported values: {choices}"
        fix = f"use one of {choices}"
    elif best.validator == "required":
        missing = next((r for r in best.validator_value if r not in (value or {})), "?")
        message = f"missing field `{missing}` ({k8s_path([*path, missing])}: Required value)"
        fix = f"add `{missing}`"
    else:
        message = f"{field_}: Invalid value: {best.message}"
        fix = f"see the {kind} CRD reference (KubeRay {KUBERAY_VERSION}) for `{field_}`"
    reading = reading_note(doc, path)
    return ApiServerRefusal(loc_of(doc, *path), f"{kind}: {message}: {where}{reading}", fix)


def _error_path(e: Any) -> list[Any]:
    path = list(e.absolute_path)
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        known = set(e.schema.get("properties") or {})
        path += [next((k for k in e.instance if k not in known), "")]
    return path


# Python type -> the JSON type name the API server prints (bool before int: a bool is an int).
_GO_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def _go_type(value: Any) -> str:
    """The JSON type name the API server prints for a value of the wrong type."""
    return next((name for kind, name in _GO_TYPES if isinstance(value, kind)), "null")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def reading_note(doc: Any, path: list[Any]) -> str:
    """Where this value reads differently in YAML 1.1 (pyyaml, Python tools) and to kubectl, say so."""
    if not path:
        return ""
    parent: Any = doc
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return ""
    readings = getattr(parent, "readings", None)
    note = readings.get(path[-1]) if isinstance(readings, dict) else None
    return f"; {note}" if note else ""


# --- metadata ---------------------------------------------------------------------------------

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
# KubeRay's limits (controllers/ray/utils/constant.go at v1.5.0): MaxRayClusterNameLength = 53,
# RayService and RayJob 6 fewer (their cluster names get a suffix).
MAX_NAME_LENGTH = {"RayCluster": 53, "RayService": 47, "RayJob": 47}


def is_dns1123_subdomain(name: str) -> bool:
    """k8s.io/apimachinery validation.IsDNS1123Subdomain: at most 253 chars of dot-separated DNS-1123 labels."""
    return 0 < len(name) <= 253 and all(_DNS1123_LABEL.match(part) for part in name.split("."))


def is_valid_label_value(value: str) -> bool:
    """validation.IsValidLabelValue: empty, or at most 63 chars of [A-Za-z0-9-_.] starting and ending alphanumeric."""
    return len(value) <= 63 and bool(re.fullmatch(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", value))


def is_qualified_name(key: str) -> bool:
    """validation.IsQualifiedName: an optional DNS-1123 subdomain prefix and `/`, then a 1-63 char name."""
    prefix, slash, name = key.rpartition("/")
    if slash and not is_dns1123_subdomain(prefix):
        return False
    return 0 < len(name) <= 63 and bool(re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", name))


def _validate_metadata(doc: LDict, kind: str) -> None:
    import jsonschema

    meta = doc["metadata"]
    error = jsonschema.exceptions.best_match(_object_meta_validator().iter_errors(plain(meta)))
    if error is not None:
        path = ["metadata", *error.absolute_path]
        field_ = k8s_path(path)
        if error.validator == "type":
            shown = _go_type(error.instance)
            message = (
                f"{field_}: cannot unmarshal {shown} into a string" if "string" in str(error.validator_value) else ""
            )
            message = message or f"{field_}: {error.message}"
            fix = (
                f'quote it: "{_scalar(error.instance)}"' if "string" in str(error.validator_value) else "see ObjectMeta"
            )
        elif error.validator == "additionalProperties":
            extra = [k for k in error.instance if k not in (error.schema.get("properties") or {})]
            path.append(extra[0] if extra else "?")
            field_ = k8s_path(path)
            close = difflib.get_close_matches(str(path[-1]), sorted(error.schema.get("properties") or {}), n=1)
            message = f"unknown field {field_!r} (strict decoding error)"
            fix = f"did you mean `{close[0]}`?" if close else "remove it"
        else:
            message, fix = f"{field_}: {error.message}", "see the ObjectMeta reference"
        raise ApiServerRefusal(
            loc_of(doc, *path),
            f"{kind}: {message}: the API server refuses it{reading_note(doc, path)}",
            fix,
        )
    name = meta.get("name")
    where = loc_of(doc, "metadata", "name")
    if isinstance(name, str):
        if not is_dns1123_subdomain(name):
            raise ApiServerRefusal(
                where,
                f"{kind}: metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 subdomain must consist of "
                "lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                "character: the API server refuses it",
                f"use a name like {_suggest_name(name)!r}",
            )
        limit = MAX_NAME_LENGTH[kind]
        if len(name) > limit or not _DNS1035_LABEL.match(name):
            why = (
                f"longer than {limit} characters"
                if len(name) > limit
                else "not a DNS-1035 label (lowercase letters, digits and '-', starting with a letter)"
            )
            raise KubeRayRefusal(
                where,
                f"{kind}: metadata.name {name!r} is {why}: KubeRay {KUBERAY_VERSION} refuses it "
                f"(Validate{kind}Metadata, controllers/ray/utils/validation.go) and creates nothing",
                f"use a name like {_suggest_name(name)[:limit]!r}",
            )
    labels = meta.get("labels")
    for key, value in labels.items() if isinstance(labels, dict) else []:
        if not is_qualified_name(str(key)):
            what = (
                f"{key!r}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
                "and end with an alphanumeric character (an optional DNS subdomain prefix and '/')"
            )
            fix = "use a key like `example.com/my-key`"
        elif isinstance(value, str) and not is_valid_label_value(value):
            what = (
                f"{value!r}: a valid label must be an empty string or consist of alphanumeric characters, '-', "
                "'_' or '.', and must start and end with an alphanumeric character (at most 63)"
            )
            fix = f"use a value like {_suggest_name(value)[:63]!r}"
        else:
            continue
        raise ApiServerRefusal(
            loc_of(doc, "metadata", "labels", key),
            f"{kind}: metadata.labels: Invalid value: {what}: the API server refuses it",
            fix,
        )


def _suggest_name(name: str) -> str:
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not out or not out[0].isalpha():
        out = "r" + out
    return out or "my-cluster"


def main(argv: list[str]) -> int:
    """`python -m gpuconf.inputs.crds MODULE_DIR`: regenerate the shipped schemas."""
    if len(argv) != 1:
        print("usage: python -m gpuconf.inputs.crds RAY_OPERATOR_MODULE_DIR", file=sys.stderr)
        return 2
    for path in write(Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
