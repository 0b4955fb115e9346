"""The user's tools the kind cluster needs, checked before anything runs; nothing is ever downloaded.

When one is missing, each problem is printed on one line with how to install it, and the
command exits with :data:`EXIT_MISSING_TOOLS`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import TextIO

EXIT_MISSING_TOOLS = 3
KIND_VERSION = "v0.30.0"  # the kind release whose node image is kindest/node:v1.34.0 (manifests/kind)
DOCKER_INFO_TIMEOUT_S = 20.0

INSTALL_HINTS: dict[str, str] = {
    "docker": "install Docker Engine (https://docs.docker.com/engine/install/) and start it: "
    "sudo systemctl start docker",
    "kind": f"go install sigs.k8s.io/kind@{KIND_VERSION}  (or a release binary: "
    "https://kind.sigs.k8s.io/docs/user/quick-start/#installation)",
    "helm": "install Helm 3 (https://helm.sh/docs/intro/install/), e.g. your package manager's `helm` package",
}
DOCKER_DOWN_HINT = (
    "start the Docker daemon (sudo systemctl start docker) and make sure this user may use it "
    "(docker group, or rootless Docker)"
)
# Which tools each subcommand runs (docker always: kind drives it).
REQUIRED: dict[str, tuple[str, ...]] = {
    "up": ("docker", "kind", "helm"),
    "down": ("docker", "kind"),
    "status": ("docker", "kind"),
}


@dataclass(frozen=True)
class ToolProblem:
    """One tool that cannot be used, and what to do about it."""

    tool: str
    problem: str
    hint: str

    def line(self) -> str:
        """One line: what is wrong and how to fix it."""
        return f"{self.tool}: {self.problem} -> {self.hint}"


def check_tools(tools: tuple[str, ...]) -> list[ToolProblem]:
    """The problems with `tools` (empty when all are usable).

    Each is looked up on PATH; docker, when found, must also answer ``docker info`` (an
    installed client with no daemon behind it fails later, inside kind, with a worse message).
    """
    problems = []
    for tool in tools:  # in the order given, so the report reads the same each time
        if shutil.which(tool) is None:
            problems.append(ToolProblem(tool, "not found on PATH", INSTALL_HINTS[tool]))
        elif tool == "docker":
            reason = _docker_unanswered()
            if reason:
                problems.append(ToolProblem("docker", reason, DOCKER_DOWN_HINT))
    return problems


def _docker_unanswered() -> str | None:
    """Why ``docker info`` did not answer, or None when it did."""
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=DOCKER_INFO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"`docker info` did not answer within {DOCKER_INFO_TIMEOUT_S:.0f} s"
    except OSError as exc:
        return f"`docker info` could not run: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"`docker info` failed (exit {done.returncode}): {last[:200]}"
    return None


def report(problems: list[ToolProblem], out: TextIO | None = None) -> int:
    """Print each problem on its own line (to stderr by default); return the exit code (0 when there is none)."""
    if not problems:
        return 0
    out = out or sys.stderr  # looked up now, not at import: tests and callers may have replaced it
    print("missing tools for the kind cluster (nothing was run or downloaded):", file=out)
    for problem in problems:
        print(f"  {problem.line()}", file=out)
    return EXIT_MISSING_TOOLS
