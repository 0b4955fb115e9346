"""Read the pinned control-plane versions from ``build/versions.env``.

The file is plain ``KEY=VALUE`` lines (``#`` comments allowed) so that the Makefile can
``include`` it unchanged; this module is the Python reader of the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
VERSIONS_FILE = REPO_ROOT / "build" / "versions.env"


def parse_env_file(path: Path) -> dict[str, str]:
    """Return the ``KEY=VALUE`` pairs of ``path``; blank lines and ``#`` comments are skipped."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        values[key.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class Versions:
    """The pinned versions of every component of the kwok control plane."""

    kubernetes: str
    etcd: str
    kwok: str
    kuberay: str
    go_min: str

    @property
    def kubernetes_staging(self) -> str:
        """The published version of the staging modules: ``v1.34.4`` → ``v0.34.4``."""
        return "v0." + self.kubernetes.removeprefix("v").split(".", 1)[1]


def load_versions(path: Path = VERSIONS_FILE) -> Versions:
    """Read ``path`` (default ``build/versions.env``); a missing key names the file and the key."""
    values = parse_env_file(path)
    keys = {
        "kubernetes": "KUBERNETES_VERSION",
        "etcd": "ETCD_VERSION",
        "kwok": "KWOK_VERSION",
        "kuberay": "KUBERAY_VERSION",
        "go_min": "GO_MIN_VERSION",
    }
    missing = [key for key in keys.values() if not values.get(key)]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    return Versions(**{field: values[key] for field, key in keys.items()})
