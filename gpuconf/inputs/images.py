"""What a container image sets in its environment before the pod's `env:` applies.

The static tier sees only the manifest, but a CUDA-based image sets NVIDIA_VISIBLE_DEVICES=all
in its own ENV. On a node whose NVIDIA container runtime honours that variable (the default for
the legacy `nvidia-container-runtime` hook), a container with no GPU limit then gets every GPU of
the node: the leak of KubeRay issue 2098, without a word of it in the manifest. This module holds
the table of known images (IMAGE_ENV, each row with where the fact comes from) and matches an
image reference against it; the expectations' `images:` entries come first and override it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gpuconf.errors import Loc

_CUDA_ENV = {"NVIDIA_VISIBLE_DEVICES": "all"}


@dataclass(frozen=True)
class ImageEnvRule:
    """Images whose reference matches set this env; `source` says where that is known from."""

    pattern: str  # shown in messages and docs
    env: dict[str, str]
    source: str
    matches: Callable[[str, str], bool] = field(compare=False, repr=False)  # (repository, tag)
    loc: Loc | None = field(default=None, compare=False)


def _ray_gpu_tag(tag: str) -> bool:
    # {version}[-{python}][-{platform}]: -gpu aliases a -cuXX tag; no platform tag means -cpu for ray.
    return bool(re.search(r"(^|-)(gpu|cu\d+)(-|$)", tag))


IMAGE_ENV: tuple[ImageEnvRule, ...] = (
    ImageEnvRule(
        "nvidia/cuda:*",
        _CUDA_ENV,
        "NVIDIA's CUDA base images set `ENV NVIDIA_VISIBLE_DEVICES all` in their base Dockerfile "
        "(gitlab.com/nvidia/container-images/cuda, dist/*/base/Dockerfile)",
        lambda repo, tag: repo in ("nvidia/cuda", "nvcr.io/nvidia/cuda"),
    ),
    ImageEnvRule(
        "rayproject/ray:*-gpu, rayproject/ray:*-cuXX",
        _CUDA_ENV,
        "ray-project/ray docker/base-deps/README.md: -cuXX images are built FROM nvidia/cuda, -gpu "
        "aliases one of them; tags without a platform alias -cpu (built on ubuntu)",
        lambda repo, tag: repo == "rayproject/ray" and _ray_gpu_tag(tag),
    ),
    ImageEnvRule(
        "rayproject/ray-ml:* (all but -cpu)",
        _CUDA_ENV,
        "ray-project/ray docker/ray-ml/README.md: for ray-ml a tag without a platform aliases -gpu, "
        "itself a -cuXX image built FROM nvidia/cuda",
        lambda repo, tag: repo == "rayproject/ray-ml" and not re.search(r"(^|-)cpu(-|$)", tag),
    ),
    ImageEnvRule(
        "rayproject/ray-llm:*",
        _CUDA_ENV,
        "ray-project/ray docker/README.md: ray-llm is built only on ray:cudaXXX (from nvidia/cuda)",
        lambda repo, tag: repo == "rayproject/ray-llm",
    ),
)


def split_image(image: str) -> tuple[str, str]:
    """`docker.io/library/x:tag@sha256:..` → ("x", "tag"): Docker Hub's default registry and library/ dropped."""
    ref = image.split("@", 1)[0]
    repo, tag = ref, "latest"
    if ":" in ref.rsplit("/", 1)[-1]:
        repo, tag = ref.rsplit(":", 1)
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix) :]
    if repo.startswith("library/"):
        repo = repo[len("library/") :]
    return repo, tag


def glob_rule(pattern: str, env: dict[str, str], loc: Loc | None) -> ImageEnvRule:
    """An expectations entry: `pattern` is a shell glob over `repository:tag` (registry kept, docker.io dropped)."""

    def matches(repo: str, tag: str) -> bool:
        return fnmatch.fnmatchcase(f"{repo}:{tag}", pattern) or fnmatch.fnmatchcase(repo, pattern)

    where = f"{loc.file}:{loc.line}" if loc else "the expectations"
    return ImageEnvRule(pattern, dict(env), f"the expectations' images: entry at {where}", matches, loc)


def image_env(image: str, overrides: Sequence[ImageEnvRule] = ()) -> tuple[dict[str, str], ImageEnvRule | None]:
    """The env the image sets, and the rule that says so (the first match, overrides before the table)."""
    if not image:
        return {}, None
    repo, tag = split_image(image)
    for r in (*overrides, *IMAGE_ENV):
        if r.matches(repo, tag):
            return dict(r.env), r
    return {}, None
