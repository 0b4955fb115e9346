"""rayStartParams.resources: the one parser of its JSON, as each reader on its way reads it.

The string travels from the YAML to KubeRay, into a `bash -c` command line, and to `ray start`:

- KubeRay v1.5.0 (common/pod.go, getResourcesMap) trims single quotes, double quotes, backticks
  and spaces from both ends and decodes the rest with Go's encoding/json into
  map[string]float64: an object of numbers (no strings, booleans or nested values, no NaN or
  Infinity, nothing beyond float64; `null` is an empty map). When that fails it logs the error
  and adds none of the accelerator resources it derives from the limits (--num-gpus, TPU,
  neuron_cores) — see kuberay_resources;
- KubeRay writes the value unchanged as `--resources=<value>`; bash removes one level of quotes;
- `ray start` (ray/_private/utils.py, parse_resources_json) json.loads what bash left and aborts
  unless it is an object — see ray_start_resources. Whether its amounts are acceptable is
  gpuconf.model.raystart's to say.

Ray's KubeRay autoscaler reads the same string from the RayCluster with a parse of its own
(autoscaler_resources). intended_resources reads what the user meant even where one of them
breaks it, for messages and fixes.
"""

from __future__ import annotations

import json
import math
from typing import Any

# What KubeRay's strings.Trim(value, "'\"` ") removes from both ends.
KUBERAY_TRIM = "'\"` "


class ResourcesJsonError(ValueError):
    """The value is not what the reader accepts (the message says why)."""


def json_object(text: str) -> dict[str, Any]:
    """`text` as a JSON object, as Python's json.loads reads it (Ray's reader)."""
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise ResourcesJsonError(f"{text!r} is not JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise ResourcesJsonError(f"{text!r} is not a JSON object")
    return parsed


def ray_start_resources(value: str) -> dict[str, Any]:
    """What `ray start --resources=<value>` reads (value after bash): a JSON object, amounts unchecked."""
    return json_object(value)


def _go_number(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ResourcesJsonError(f"the number {text} does not fit Go's float64")
    return number


def _go_constant(name: str) -> float:
    raise ResourcesJsonError(f"{name} is not JSON to Go's decoder")


def kuberay_resources(raw: str | None) -> dict[str, float]:
    """KubeRay's getResourcesMap: the value with quotes trimmed, decoded into map[string]float64.

    None (no rayStartParams.resources) is an empty map. Raises ResourcesJsonError when KubeRay's
    decode fails.
    """
    if raw is None:
        return {}
    text = raw.strip(KUBERAY_TRIM)
    try:
        parsed = json.loads(text, parse_float=_go_number, parse_int=_go_number, parse_constant=_go_constant)
    except ResourcesJsonError:
        raise
    except ValueError as exc:
        raise ResourcesJsonError(f"{text!r} is not JSON ({exc})") from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise ResourcesJsonError(f"{text!r} is not a JSON object")
    out: dict[str, float] = {}
    for key, value in parsed.items():
        if value is None:
            out[str(key)] = 0.0  # Go leaves a null element at float64's zero value
        elif isinstance(value, float):
            out[str(key)] = value
        else:
            raise ResourcesJsonError(f"{text!r}: {key!r} is {value!r}, not a number (Go cannot decode it as float64)")
    return out


def kuberay_resources_error(raw: str | None) -> str | None:
    """Why KubeRay cannot read this rayStartParams.resources (None when it can)."""
    try:
        kuberay_resources(raw)
    except ResourcesJsonError as exc:
        return str(exc)
    return None


def intended_resources(raw: str) -> dict[str, Any] | None:
    """The object the user meant, even where bash or KubeRay break the value (None: no JSON object in it).

    Tried in turn: the value as KubeRay trims it; that with the YAML-style `\\"` escapes undone
    (the form often copied into a plain scalar); the value as written.
    """
    text = raw.strip().strip(KUBERAY_TRIM)
    for candidate in (text, text.replace('\\"', '"'), raw):
        try:
            return json_object(candidate)
        except ResourcesJsonError:
            continue
    return None


def autoscaler_resources(raw: str) -> dict[str, int]:
    """Ray's KubeRay autoscaler (autoscaling_config.py, _get_custom_resources, Ray 2.60): the first and
    last characters dropped, every backslash removed, then a JSON object of ints (1.0 fails)."""
    text = raw[1:-1].replace("\\", "")
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise ResourcesJsonError(
            f"rayStartParams.resources {raw!r}: after dropping its first and last character and "
            f"every backslash the autoscaler reads {text!r}, which is not JSON ({exc})"
        ) from None
    if not isinstance(parsed, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in parsed.values()):
        raise ResourcesJsonError(
            f"rayStartParams.resources {raw!r}: the autoscaler takes only a JSON object of integers, it reads {text!r}"
        )
    return {str(k): int(v) for k, v in parsed.items()}
