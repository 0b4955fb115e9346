"""Errors that mean "the input is wrong": reported as file:line, exit code 2."""

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


EXIT_ENVIRONMENT = 3  # an environment failure without a more precise code (preflight uses 10-14)


class EnvironmentFailure(Exception):
    """The environment (not the configuration) prevents a check from running.

    Reports keep these apart from conformance failures: the verdict is "environment", and a
    run whose only failures are environment failures exits with `exit_code`, not 1.
    """

    def __init__(self, message: str, exit_code: int = EXIT_ENVIRONMENT, evidence: dict | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.evidence = evidence or {}
