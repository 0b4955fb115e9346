"""Errors and exit codes: bad input (file:line, exit 2) and environment failures (exit 3, 10-14)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    """A place in an input file (1-based line)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class InputError(Exception):
    """Bad input: malformed YAML, an unknown kind, a missing or invalid field."""

    def __init__(self, loc: Loc | None, message: str, fix: str = "") -> None:
        self.loc = loc
        self.message = message
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        """One readable block: where, what, and how to fix it."""
        where = f"{self.loc}: " if self.loc else ""
        text = f"{where}error: {self.message}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


# Exit codes of environment failures: 3 without a more precise code; preflight's checks use 10-14.
EXIT_ENVIRONMENT = 3
EXIT_UNREACHABLE = 10  # no API server answers
EXIT_NO_KUBERAY = 11  # the KubeRay CRDs are missing
EXIT_NO_GPU_NODES = 12  # no node matches the GPU node selector
EXIT_NO_GPU_ALLOCATABLE = 13  # GPU nodes, but none advertises allocatable GPUs
EXIT_RBAC = 14  # the credentials lack a permission the suite needs


class EnvironmentFailure(Exception):
    """The environment (not the configuration) prevents a check from running.

    Reports keep these apart from conformance failures: the verdict is "environment", and a
    run whose only failures are environment failures exits with `exit_code`, not 1.
    """

    def __init__(self, message: str, exit_code: int = EXIT_ENVIRONMENT, evidence: dict | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.evidence = evidence or {}
