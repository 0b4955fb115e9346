"""Ray Serve's config schema as JSON Schema, exported once per installed Ray version.

Ray's `ServeDeploySchema` (pydantic) stays the source of truth, but importing `ray.serve.schema`
takes most of a second or more. So its JSON Schema is exported on first use into a cache file
keyed by the Ray version (``$GPUCONF_CACHE_DIR`` or ``~/.cache/gpuconf``), and `gpuconf check`
validates with `jsonschema` from that file, without importing Ray. Run
``python -m gpuconf.inputs.serve_schema`` to create it ahead of time (e.g. at setup).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import tempfile
from pathlib import Path
from typing import Any

# The Serve models whose unknown keys are errors (a typo such as `num_gpu` would be ignored by Serve).
STRICT_MODELS = ("ServeDeploySchema", "ServeApplicationSchema", "DeploymentSchema", "RayActorOptionsSchema")
FORMAT = 1  # bump when the export below changes


def cache_dir() -> Path:
    """Where the exported schemas live."""
    return Path(os.environ.get("GPUCONF_CACHE_DIR") or Path.home() / ".cache" / "gpuconf")


def ray_version() -> str:
    """The installed Ray version, read from package metadata (no import of Ray)."""
    return importlib.metadata.version("ray")


def schema_path() -> Path:
    """The cache file for the installed Ray version."""
    return cache_dir() / f"serve-deploy-schema-ray-{ray_version()}-v{FORMAT}.json"


def export_schema() -> dict[str, Any]:
    """Ray's ServeDeploySchema as JSON Schema, with unknown keys forbidden on the strict models."""
    from ray.serve.schema import ServeDeploySchema

    schema: dict[str, Any] = ServeDeploySchema.model_json_schema()
    defs = schema.get("$defs", {})
    for name in STRICT_MODELS:
        target = schema if name == "ServeDeploySchema" else defs.get(name)
        if target is not None:
            target["additionalProperties"] = False
    schema["x-gpuconf-ray-version"] = ray_version()
    return schema


def load_schema() -> dict[str, Any]:
    """The cached schema, exported (and cached) on first use for this Ray version."""
    path = schema_path()
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    schema = export_schema()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
            json.dump(schema, fh)
        os.replace(fh.name, path)  # atomic: concurrent checks never read half a file
    except OSError:
        pass  # a read-only home still validates, just without the cache
    return schema


if __name__ == "__main__":
    load_schema()
    print(schema_path())
