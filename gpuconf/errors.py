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
    """Bad input: malformed YAML, an unknown kind, a missing or invalid field.

    `refused_by` says who refuses such an input: gpuconf itself for what only it reads (its
    expectations, node pools, limits, file reading); each subclass below names the tool whose
    refusal gpuconf reproduces.
    """

    refused_by = "gpuconf"

    def __init__(self, loc: Loc | None, message: str, fix: str = "") -> None:
        self.loc = loc
        self.message = message
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        """One readable block: where, what, who refuses it, and how to fix it."""
        where = f"{self.loc}: " if self.loc else ""
        text = f"{where}error: {self.message}\n  refused by: {self.refused_by}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class YamlRefusal(InputError):
    """YAML that kubectl's reader (sigs.k8s.io/yaml) refuses too."""

    refused_by = "kubectl (its YAML reader, sigs.k8s.io/yaml)"


class ApiServerRefusal(InputError):
    """An object the API server refuses on `kubectl apply` (its schema, its validation)."""

    refused_by = "the API server (kubectl apply)"


class KubeRayRefusal(InputError):
    """A spec KubeRay's operator refuses or cannot build pods from (v1.5.0's validation and pod builder)."""

    refused_by = "KubeRay (the operator)"


class RayStartRefusal(InputError):
    """A rayStartParams value `ray start` refuses: the pod's Ray node never starts."""

    refused_by = "`ray start` (Ray 2.60)"


class ServeRefusal(InputError):
    """A Serve config or app that Ray Serve refuses at deploy time (its schema, ReplicaConfig, `serve build`)."""

    refused_by = "Ray Serve (at deploy time)"


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
