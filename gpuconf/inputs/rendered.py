"""Inputs that are not files: a YAML stream on stdin, a Helm chart, a Kustomize folder.

`gpuconf check -` reads a stream (``helm template ... | gpuconf check -``); its locations are
`<stdin>:LINE`. A folder holding `Chart.yaml` is a Helm chart and one holding
`kustomization.yaml` a Kustomize folder: it is rendered with `helm template` or
`kubectl kustomize` (else `kustomize build`) when one is on the PATH, and what is checked is the
rendered stream, never the folder's unrendered files (the base of an overlay is not the overlay).
Where no renderer is installed the check stops (exit 2) with the command to render it first.

Locations: Helm says which template made each document (`# Source: CHART/templates/x.yaml`), so a
finding points at that template file, at its line within the rendered document (the lines a
template writes before its first `{{ }}` block are the template's own). Kustomize says nothing of
the kind, so a finding points at the rendered stream, `<kubectl kustomize DIR>:LINE` (the line of
that command's output).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gpuconf.errors import InputError, Loc
from gpuconf.inputs.limits import MAX_FILE_BYTES
from gpuconf.inputs.loader import display_path

STDIN = "-"
STDIN_NAME = "<stdin>"
HELM_MARKERS = ("Chart.yaml",)
KUSTOMIZE_MARKERS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
RENDER_TIMEOUT_S = 120
# A renderer may be named by path (tests, or a helm kept outside the PATH).
HELM_ENV, KUBECTL_ENV = "GPUCONF_HELM", "GPUCONF_KUBECTL"


@dataclass(frozen=True)
class Chunk:
    """Part of a stream loaded under one file name; `line_offset` is added to its line numbers."""

    file: str
    text: str
    line_offset: int = 0


@dataclass
class Rendered:
    """A stream to check in place of files: what it came from, and its chunks."""

    name: str  # as the output names it: `<stdin>`, a chart or a Kustomize folder
    chunks: list[Chunk]
    # The folder whose expectations.yaml and nodes/ go with the stream (the chart or Kustomize folder).
    folder: Path | None
    command: list[str] = field(default_factory=list)

    @property
    def shown_command(self) -> str:
        """The render command as a user would type it."""
        return _shown(self.command) if self.command else ""


@dataclass(frozen=True)
class HelmOptions:
    """`--helm-values FILE` (repeatable), `--helm-set K=V` (repeatable), `--helm-release NAME`."""

    values: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    release: str | None = None


def kind_of_folder(path: Path) -> str | None:
    """`helm` for a chart, `kustomize` for a Kustomize folder, else None."""
    if not path.is_dir():
        return None
    if any((path / m).is_file() for m in HELM_MARKERS):
        return "helm"
    if any((path / m).is_file() for m in KUSTOMIZE_MARKERS):
        return "kustomize"
    return None


def read_stdin() -> Rendered:
    """The YAML stream on standard input (bounded like a file)."""
    data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise InputError(
            Loc(STDIN_NAME, 1),
            f"standard input is over the {MAX_FILE_BYTES:,}-byte limit",
            "split the stream, or write it to files and pass the folder",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(Loc(STDIN_NAME, line), "standard input is not UTF-8", "pipe UTF-8 YAML into it") from None
    if not text.strip():
        raise InputError(
            Loc(STDIN_NAME, 1),
            "standard input is empty",
            "pipe the manifests into it, e.g. `helm template REL CHART | gpuconf check -`",
        )
    return Rendered(STDIN_NAME, [Chunk(STDIN_NAME, text)], None)


def _helm_binary() -> str | None:
    return os.environ.get(HELM_ENV) or shutil.which("helm")


def _chart_name(chart: Path) -> str:
    import yaml

    try:
        meta = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        meta = None
    name = meta.get("name") if isinstance(meta, dict) else None
    return str(name) if name else chart.resolve().name


def helm_command(chart: Path, options: HelmOptions, binary: str = "helm") -> list[str]:
    """`helm template RELEASE CHART [-f FILE]... [--set K=V]...` (release: the chart's name unless given)."""
    cmd = [binary, "template", options.release or _chart_name(chart), display_path(chart)]
    for v in options.values:
        cmd += ["-f", v]
    for s in options.sets:
        cmd += ["--set", s]
    return cmd


def kustomize_command(folder: Path, binary: str | None = None) -> list[str]:
    """`kubectl kustomize DIR`, or `kustomize build DIR` where only kustomize is installed."""
    kubectl = os.environ.get(KUBECTL_ENV) or shutil.which("kubectl")
    if binary is None and kubectl is None and shutil.which("kustomize"):
        return ["kustomize", "build", display_path(folder)]
    return [binary or kubectl or "kubectl", "kustomize", display_path(folder)]


def _shown(cmd: list[str]) -> str:
    return shlex.join([Path(cmd[0]).name, *cmd[1:]])


def render_folder(folder: Path, options: HelmOptions) -> Rendered:
    """Render a chart or a Kustomize folder; InputError (exit 2) when no renderer is installed or it fails."""
    kind = kind_of_folder(folder)
    shown = display_path(folder)
    if kind == "helm":
        binary = _helm_binary()
        cmd = helm_command(folder, options, binary or "helm")
        marker = Loc(f"{shown}/Chart.yaml", 1)
        if binary is None:
            raise InputError(
                marker,
                f"{shown} is a Helm chart and helm is not installed here",
                f"render it first: `{_shown(cmd)} > rendered.yaml`, then `gpuconf check rendered.yaml` "
                f"(or `{_shown(cmd)} | gpuconf check -`)",
            )
        text = _run(cmd, marker)
        return Rendered(f"helm chart {shown}", helm_chunks(text, folder), folder, cmd)
    if kind == "kustomize":
        if options.values or options.sets:
            raise InputError(None, f"--helm-values/--helm-set given for {shown}, a Kustomize folder", "drop them")
        marker_file = next(m for m in KUSTOMIZE_MARKERS if (folder / m).is_file())
        marker = Loc(f"{shown}/{marker_file}", 1)
        cmd = kustomize_command(folder)
        if not (os.environ.get(KUBECTL_ENV) or shutil.which(cmd[0])):
            raise InputError(
                marker,
                f"{shown} is a Kustomize folder and neither kubectl nor kustomize is installed here",
                f"render it first: `kubectl kustomize {shown} > rendered.yaml`, then `gpuconf check rendered.yaml` "
                f"(or `kubectl kustomize {shown} | gpuconf check -`)",
            )
        text = _run(cmd, marker)
        name = f"<{_shown(cmd)}>"
        return Rendered(name, [Chunk(name, text)], folder, cmd)
    raise ValueError(f"{folder} is neither a Helm chart nor a Kustomize folder")


def _run(cmd: list[str], loc: Loc) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(loc, f"`{_shown(cmd)}` took over {RENDER_TIMEOUT_S} s", "render it yourself") from None
    except OSError as exc:
        raise InputError(loc, f"cannot run `{_shown(cmd)}`: {exc.strerror}", "check the renderer's install") from None
    if proc.returncode != 0:
        said = " ".join(proc.stderr.strip().splitlines()[-3:]) or f"exit {proc.returncode}"
        raise InputError(loc, f"`{_shown(cmd)}` failed: {said}", "fix what the renderer says, then check again")
    if len(proc.stdout.encode()) > MAX_FILE_BYTES:
        raise InputError(loc, f"the rendered stream is over the {MAX_FILE_BYTES:,}-byte limit", "render less")
    return proc.stdout


_SOURCE = re.compile(r"^# Source: (\S+)\s*$")


def helm_chunks(text: str, chart: Path | None = None, stream_name: str = "<helm template>") -> list[Chunk]:
    """Split `helm template` output by its `# Source:` comments: each document under its template's path.

    The path is the chart folder's (`CHART/templates/x.yaml` → `<chart folder>/templates/x.yaml`);
    lines count from the line after the `# Source:` comment. Text before any `# Source:` keeps the
    stream's name and line numbers.
    """
    lines = text.splitlines(keepends=True)
    chunks: list[Chunk] = []
    start, file = 0, stream_name
    for no, line in enumerate(lines):
        m = _SOURCE.match(line.rstrip("\n"))
        if m is None:
            continue
        chunks.append(Chunk(file, "".join(lines[start:no])))
        source = m.group(1)
        inside = source.split("/", 1)[1] if "/" in source else source
        file = f"{display_path(chart)}/{inside}" if chart is not None else source
        start = no + 1  # each chunk is loaded on its own: its line 1 is the line after `# Source:`
    chunks.append(Chunk(file, "".join(lines[start:])))
    return [c for c in chunks if c.text.strip(" \n-")]
