"""`gpuconf check --import-apps DIR`: read deployments defined in code with Serve's own `serve build`.

`serve build IMPORT_PATH --app-dir DIR` imports the app (no cluster needed) and writes the options
of each `@serve.deployment(...)` into a Serve config. Each app that lists no `deployments:` gets
those, located at its `import_path` line, before the plan is made.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from gpuconf.errors import InputError, Loc, ServeRefusal
from gpuconf.inputs.loader import LDict, LList, get, load_yaml_documents, loc_of

BUILD_TIMEOUT_S = 300


def serve_cli() -> str:
    """The `serve` command of the Ray installed beside this interpreter."""
    beside = Path(sys.executable).parent / "serve"
    found = str(beside) if beside.exists() else shutil.which("serve")
    if not found:
        raise InputError(
            None,
            "--import-apps needs Ray Serve's `serve` command, which is not installed",
            "pip install 'ray[serve]' into the environment gpuconf runs in",
        )
    return found


def import_code_defined_apps(body: LDict, app_dir: Path) -> list[str]:
    """Fill `deployments:` of each app that lists none from `serve build`; the names of the apps filled."""
    done = []
    for i, app in enumerate(get(body, "applications", default=[]) or []):
        if not isinstance(app, LDict) or app.get("deployments"):
            continue
        import_path = app.get("import_path")
        loc = loc_of(body, "applications", i, "import_path") or loc_of(body, "applications", i)
        built = _build(str(import_path), app_dir, loc)
        deployments = _restamp(built, loc)
        app["deployments"] = deployments
        if loc is not None:
            app.key_locs["deployments"] = loc
        done.append(str(app.get("name", "default")))
    return done


def _build(import_path: str, app_dir: Path, loc: Loc | None) -> Any:
    with tempfile.TemporaryDirectory(prefix="gpuconf-serve-build-") as tmp:
        out = Path(tmp) / "built.yaml"
        try:
            proc = subprocess.run(
                [serve_cli(), "build", import_path, "--app-dir", str(app_dir), "-o", str(out)],
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ServeRefusal(
                loc,
                f"`serve build {import_path}` ran past {BUILD_TIMEOUT_S} s",
                "check that importing the app does no work at import time",
            ) from None
        if proc.returncode != 0 or not out.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ServeRefusal(
                loc,
                f"`serve build {import_path} --app-dir {app_dir}` failed: {last}",
                "pass the folder the import path is relative to as --import-apps; `serve build` "
                "needs an Application (`app = Deployment.bind()`), not a builder function",
            )
        docs = load_yaml_documents(out.read_text(encoding="utf-8"), "serve build")
    apps = get(docs[0] if docs else None, "applications", default=[]) or []
    if len(apps) != 1:
        raise ServeRefusal(
            loc,
            f"`serve build {import_path}` gave {len(apps)} applications, expected 1",
            "point import_path at one Serve application",
        )
    return get(apps[0], "deployments", default=[]) or []


def _restamp(obj: Any, loc: Loc | None) -> Any:
    """A copy whose every location is the app's import_path line (the generated file is gone)."""
    where = loc or Loc("serve build", 1)
    if isinstance(obj, dict):
        out = LDict()
        out.loc, out.key_locs = where, {}
        for k, v in obj.items():
            out[k] = _restamp(v, loc)
            out.key_locs[k] = where
        return out
    if isinstance(obj, list):
        seq = LList(_restamp(v, loc) for v in obj)
        seq.loc, seq.item_locs = where, [where] * len(seq)
        return seq
    return obj
