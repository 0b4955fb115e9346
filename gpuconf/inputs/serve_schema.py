"""Ray Serve's config schema as JSON Schema: shipped for the pinned Ray, exported for any other.

Ray's `ServeDeploySchema` (pydantic) stays the source of truth, but importing `ray.serve.schema`
takes a second or more, and the static tier must not need Ray at all (`pip install gpuconf`
without extras). So:

* the schema of the pinned Ray (SHIPPED_RAY_VERSION) ships with the package, in
  gpuconf/inputs/data/ (regenerate it with ``python -m gpuconf.inputs.serve_schema --write-shipped``;
  tests/test_lean_core.py checks that it equals what the installed Ray exports);
* with no Ray installed, or the pinned one, that file is used as is;
* with another Ray version installed, its schema is exported on first use into a cache file keyed
  by that version (``$GPUCONF_CACHE_DIR`` or ``~/.cache/gpuconf``).

The export also records the fields of Ray's `AutoscalingConfig`: DeploymentSchema types
`autoscaling_config` as an open dict and AutoscalingConfig ignores unknown keys, so a misplaced
key there (e.g. `max_ongoing_requests`, ray-project/ray#61439) is caught from this list
(gpuconf.inputs.schema).
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

# The Serve models whose unknown keys are errors (a typo such as `num_gpu` would be ignored by Serve).
STRICT_MODELS = ("ServeDeploySchema", "ServeApplicationSchema", "DeploymentSchema", "RayActorOptionsSchema")
FORMAT = 2  # bump when the export below changes
# The Ray version requirements.txt pins; its schema ships in DATA_DIR.
SHIPPED_RAY_VERSION = "2.60.0"
DATA_DIR = Path(__file__).resolve().parent / "data"
# The key of the export that lists AutoscalingConfig's fields.
AUTOSCALING_FIELDS_KEY = "x-gpuconf-autoscaling-config-fields"


def cache_dir() -> Path:
    """Where the exported schemas live."""
    return Path(os.environ.get("GPUCONF_CACHE_DIR") or Path.home() / ".cache" / "gpuconf")


@functools.cache
def ray_version() -> str | None:
    """The installed Ray version, read from package metadata (no import of Ray); None without Ray.

    Cached: a check asks for it several times, and each metadata read scans sys.path.
    """
    try:
        return importlib.metadata.version("ray")
    except importlib.metadata.PackageNotFoundError:
        return None


def shipped_schema_path() -> Path:
    """The schema shipped with the package (for SHIPPED_RAY_VERSION)."""
    return DATA_DIR / f"serve-deploy-schema-ray-{SHIPPED_RAY_VERSION}.json"


def schema_path() -> Path:
    """The schema file for the installed Ray: the shipped one for the pinned Ray or no Ray, else a cache file."""
    version = ray_version()
    if version is None or version == SHIPPED_RAY_VERSION:
        return shipped_schema_path()
    return cache_dir() / f"serve-deploy-schema-ray-{version}-v{FORMAT}.json"


def export_schema() -> dict[str, Any]:
    """Ray's ServeDeploySchema as JSON Schema, with unknown keys forbidden on the strict models (imports Ray)."""
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import ServeDeploySchema

    schema: dict[str, Any] = ServeDeploySchema.model_json_schema()
    defs = schema.get("$defs", {})
    for name in STRICT_MODELS:
        target = schema if name == "ServeDeploySchema" else defs.get(name)
        if target is not None:
            target["additionalProperties"] = False
    fields = set(AutoscalingConfig.model_fields)
    fields |= {f.alias for f in AutoscalingConfig.model_fields.values() if f.alias}
    schema[AUTOSCALING_FIELDS_KEY] = sorted(fields)
    schema["x-gpuconf-ray-version"] = ray_version()
    schema["x-gpuconf-format"] = FORMAT
    return schema


def dump(schema: dict[str, Any]) -> str:
    """The schema as written to a file: sorted keys, so the shipped file diffs well."""
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"


def load_schema() -> dict[str, Any]:
    """The schema for the installed Ray (shipped, cached, or exported and cached on first use)."""
    path = schema_path()
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        if path == shipped_schema_path():
            raise  # the package is broken: the shipped file is part of it
    schema = export_schema()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
            fh.write(dump(schema))
        os.replace(fh.name, path)  # atomic: concurrent checks never read half a file
    except OSError:
        pass  # a read-only home still validates, just without the cache
    return schema


def main(argv: list[str]) -> int:
    """`--write-shipped`: regenerate the shipped schema with the installed (pinned) Ray; else print the path."""
    if argv == ["--write-shipped"]:
        if ray_version() != SHIPPED_RAY_VERSION:
            print(f"error: Ray {SHIPPED_RAY_VERSION} must be installed (found {ray_version()})", file=sys.stderr)
            return 2
        DATA_DIR.mkdir(exist_ok=True)
        shipped_schema_path().write_text(dump(export_schema()), encoding="utf-8")
    else:
        load_schema()
    print(schema_path())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
