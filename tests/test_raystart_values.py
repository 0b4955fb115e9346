"""The values `ray start` refuses, held against Ray 2.60's own code.

gpuconf.model.raystart states Ray's rules without importing Ray (a static check must not pay
for it). Here each value is also given to the code `ray start` runs — its click command's
option parsing, RayParams' usage check, and ResourceAndLabelSpec's resource resolution and
checks — and the two verdicts must match.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from gpuconf.model.raystart import INT_OPTIONS, parse_ray_start, refusal

click = pytest.importorskip("click")
pytest.importorskip("ray")

OPTION_VALUES: list[tuple[str, str]] = [
    ("num-gpus", "1.5"),
    ("num-gpus", "1e3"),
    ("num-gpus", "two"),
    ("num-gpus", "-1"),
    ("num-gpus", "0"),
    ("num-gpus", "1"),
    ("num-gpus", " 2"),
    ("num-gpus", "+3"),
    ("num-gpus", "1_000"),
    ("num-cpus", "-1"),
    ("num-cpus", "1e3"),
    ("num-cpus", "4"),
    ("memory", "-5"),
    ("memory", "1.5"),
    ("memory", "4294967296"),
    ("memory", "200000000000000"),
    ("object-store-memory", "-1"),
    ("port", "6379.0"),
    ("metrics-export-port", "8080"),
]
CUSTOM: list[dict[str, Any]] = [
    {"gpu_worker": 1},
    {"gpu_worker": 0.5},
    {"gpu_worker": 0.001},
    {"gpu_worker": "1"},
    {"gpu_worker": -1},
    {"gpu_worker": 1.0},
    {"gpu_worker": 0},
    {"gpu_worker": True},
    {"gpu_worker": None},
    {"gpu_worker": [1]},
    {"gpu_worker": 1e15},
    {"gpu_worker": math.nan},
    {"CPU": 1},
    {"GPU": 1},
    {"memory": 1},
    {"object_store_memory": 1},
    {"node:__internal_head__": 1},
    {"head_node": 1, "TPU": 4},
]


@pytest.fixture(scope="module")
def ray_start() -> Any:
    """Ray's own `ray start` click command (importing it takes seconds: once per module)."""
    from ray.scripts.scripts import start

    return start


def ray_refuses(start: Any, options: dict[str, str], custom: dict[str, Any]) -> bool:
    """Whether Ray's own code refuses these options and --resources amounts (no process is started)."""
    from ray._private.parameter import RayParams
    from ray._private.resource_and_label_spec import ResourceAndLabelSpec

    try:
        params = start.make_context("start", [f"--{k}={v}" for k, v in options.items()]).params
    except click.UsageError:
        return True
    try:
        RayParams(resources=dict(custom))  # _check_usage: Ray's default resources are not custom ones
        spec = ResourceAndLabelSpec(
            num_cpus=params["num_cpus"] if params["num_cpus"] is not None else 1,
            num_gpus=params["num_gpus"] or 0,
            memory=params["memory"] if params["memory"] is not None else 1,
            object_store_memory=params["object_store_memory"] if params["object_store_memory"] is not None else 1,
            resources=dict(custom),
            labels={},
        )
        spec._resolve_resources(is_head=False, node_ip_address="127.0.0.1")
        spec._is_resolved = True  # what resolve() sets once the host's devices are read
        spec.to_resource_dict()
    except (AssertionError, ValueError, TypeError):
        return True
    return False


@pytest.mark.parametrize(("option", "value"), OPTION_VALUES, ids=[f"{o}={v}" for o, v in OPTION_VALUES])
def test_option_values_are_judged_as_ray_judges_them(ray_start: Any, option: str, value: str) -> None:
    """An integer option's value: refused by us exactly when Ray's click parsing or resource checks refuse it."""
    ours = refusal({option: value}, {})
    assert (ours is not None) == ray_refuses(ray_start, {option: value}, {}), ours


@pytest.mark.parametrize("custom", CUSTOM, ids=[repr(c) for c in CUSTOM])
def test_custom_resources_are_judged_as_ray_judges_them(ray_start: Any, custom: dict[str, Any]) -> None:
    """A --resources object: refused by us exactly when RayParams or ResourceAndLabelSpec refuse it."""
    ours = refusal({}, custom)
    assert (ours is not None) == ray_refuses(ray_start, {}, custom), ours


def test_the_integer_options_are_rays(ray_start: Any) -> None:
    """INT_OPTIONS is the set of `ray start` options click reads as int (counting flags aside)."""
    ints = {
        p.name.replace("_", "-")
        for p in ray_start.params
        if isinstance(p.type, click.types.IntParamType) and not getattr(p, "count", False)
    }
    assert ints == INT_OPTIONS


def test_the_refusal_names_the_option_and_the_fix() -> None:
    """What the message and the fix say, for the values the issue lists."""
    gpus = parse_ray_start(["ray", "start", "--num-gpus=1.5"])
    assert gpus.error == "ray start: invalid value for --num-gpus: '1.5'"
    assert gpus.refusal is not None and 'num-gpus: "2"' in gpus.refusal.fix
    negative = parse_ray_start(["ray", "start", "--num-cpus=-1"])
    assert negative.refusal is not None and "negative" in negative.refusal.why
    half = parse_ray_start(["ray", "start", """--resources={"gpu_worker": 0.5}"""])
    assert half.refusal is not None and half.refusal.option == "resources"
    assert "'gpu_worker': 0.5 is not a whole number" in half.refusal.why and '{"gpu_worker": 1}' in half.refusal.fix
    text = parse_ray_start(["ray", "start", """--resources={"gpu_worker": "1"}"""])
    assert text.refusal is not None and "is not a number" in text.refusal.why
