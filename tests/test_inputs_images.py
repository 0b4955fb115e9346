"""The known-image env table (gpuconf.inputs.images): which images set NVIDIA_VISIBLE_DEVICES=all."""

from __future__ import annotations

import pytest

from gpuconf.errors import Loc
from gpuconf.inputs.images import IMAGE_ENV, glob_rule, image_env, split_image


@pytest.mark.parametrize(
    ("image", "leaks"),
    [
        ("rayproject/ray:2.60.0-py311-gpu", True),
        ("rayproject/ray:2.46.0-py311-cu124", True),
        ("docker.io/rayproject/ray:2.60.0-cu128-aarch64", True),
        ("rayproject/ray:2.60.0-py311", False),  # no platform tag: an alias of -cpu
        ("rayproject/ray:2.60.0-py311-cpu", False),
        ("rayproject/ray:latest", False),
        ("rayproject/ray-ml:2.9.0", True),  # for ray-ml no platform tag aliases -gpu
        ("rayproject/ray-ml:2.9.0-py310-cpu", False),
        ("rayproject/ray-llm:2.46.0-py311-cu124", True),
        ("nvidia/cuda:12.4.1-base-ubuntu22.04", True),
        ("nvcr.io/nvidia/cuda:12.4.1-runtime-ubuntu22.04", True),
        ("docker.io/library/ubuntu:22.04", False),
        ("rayproject/ray@sha256:0123abcd", False),  # a digest names no tag: unknown, not assumed
        ("", False),
    ],
)
def test_known_images(image: str, leaks: bool) -> None:
    """CUDA-based images set NVIDIA_VISIBLE_DEVICES=all in their env; CPU images set nothing."""
    env, rule = image_env(image)
    assert (env.get("NVIDIA_VISIBLE_DEVICES") == "all") is leaks
    assert (rule is not None) is leaks


def test_every_row_names_its_source() -> None:
    """Each fact of the table says where it comes from."""
    assert all(r.source and r.pattern and r.env for r in IMAGE_ENV)


def test_split_image_drops_docker_hub_defaults() -> None:
    assert split_image("docker.io/library/python:3.11") == ("python", "3.11")
    assert split_image("localhost:5000/ray:x") == ("localhost:5000/ray", "x")
    assert split_image("rayproject/ray") == ("rayproject/ray", "latest")


def test_overrides_come_first_both_ways() -> None:
    """An expectations entry can add an image the table lacks, or say a listed one sets nothing."""
    mine = glob_rule("registry.example.com/ml/*", {"NVIDIA_VISIBLE_DEVICES": "all"}, Loc("e.yaml", 3))
    quiet = glob_rule("rayproject/ray:*-gpu", {}, Loc("e.yaml", 5))
    env, rule = image_env("registry.example.com/ml/serve:1.0", [mine, quiet])
    assert env == {"NVIDIA_VISIBLE_DEVICES": "all"} and rule is mine and "e.yaml:3" in rule.source
    env, rule = image_env("rayproject/ray:2.60.0-py311-gpu", [mine, quiet])
    assert env == {} and rule is quiet
