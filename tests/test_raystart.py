"""Unit tests of gpuconf.model.raystart: what `ray start` makes of the argv bash hands it."""

from __future__ import annotations

import pytest

from gpuconf.model.raystart import parse_ray_start
from gpuconf.model.shell import bash_words

WORKER = (
    "ray start  --address=c-head-svc:6379  --block  --dashboard-agent-listen-port=52365  "
    "--memory=17179869184  --metrics-export-port=8080  --num-cpus=4  --num-gpus=1  "
    """--resources='{"gpu_worker": 1}' """
)


def test_kuberay_worker_command() -> None:
    """A full KubeRay worker command: options, the --block flag, resources JSON."""
    args = parse_ray_start(bash_words(WORKER))
    assert args.error is None
    assert not args.is_head
    assert args.flags == {"block"}
    assert args.options["address"] == "c-head-svc:6379"
    assert args.options["metrics-export-port"] == "8080"
    assert args.custom_resources() == {"gpu_worker": 1.0}
    assert args.resources() == {"CPU": 4.0, "GPU": 1.0, "memory": 17179869184.0, "gpu_worker": 1.0}


def test_head_flag_and_block() -> None:
    """`--head` and `--block` are flags: they never take the next word as their value."""
    args = parse_ray_start(["ray", "start", "--head", "--block", "--num-cpus=0"])
    assert args.error is None
    assert args.is_head
    assert args.flags == {"head", "block"}
    assert args.resources() == {"CPU": 0.0}
    stray = parse_ray_start(["ray", "start", "--block", "1}"])
    assert stray.error == "ray start: Got unexpected extra argument (1})"


def test_option_value_as_separate_word() -> None:
    """`--num-cpus 2` (space-separated) is read like `--num-cpus=2`."""
    args = parse_ray_start(["ray", "start", "--num-cpus", "2", "--block"])
    assert args.error is None
    assert args.options == {"num-cpus": "2"}
    assert args.flags == {"block"}


def test_resources_maps_builtin_options() -> None:
    """num-cpus/num-gpus/memory become CPU/GPU/memory; absent ones stay absent."""
    args = parse_ray_start(["ray", "start", "--num-gpus=2", "--memory=1024"])
    assert args.resources() == {"GPU": 2.0, "memory": 1024.0}
    assert parse_ray_start(["ray", "start"]).resources() == {}


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("a=b,c=d", {"a": "b", "c": "d"}),
        ("ray.io/accelerator-type=H100, zone = z1", {"ray.io/accelerator-type": "H100", "zone": "z1"}),
        ('{"a": "b", "n": 1}', {"a": "b", "n": "1"}),
    ],
)
def test_labels_key_value_and_json(raw: str, expected: dict[str, str]) -> None:
    """--labels as `k=v,k2=v2` (current Ray) or a JSON object (older Ray)."""
    args = parse_ray_start(["ray", "start", f"--labels={raw}"])
    assert args.error is None
    assert args.labels() == expected


def test_no_labels() -> None:
    """No --labels: no labels."""
    assert parse_ray_start(["ray", "start"]).labels() == {}


def test_stray_word_from_the_seed_value_is_an_error() -> None:
    """What the seed's unescaped JSON leaves behind: `1}` as an extra argument."""
    args = parse_ray_start(bash_words('ray start --block --resources={"gpu_worker": 1}'))
    assert args.error is not None
    assert "unexpected extra argument" in args.error
    assert "1}" in args.error


@pytest.mark.parametrize("value", ["{gpu_worker: 1}", "[1, 2]", "not json", '"{\\"a\\": 1}"'])
def test_invalid_resources_json_is_an_error(value: str) -> None:
    """--resources must be a JSON object after the shell is done with it."""
    args = parse_ray_start(["ray", "start", f"--resources={value}"])
    assert args.error is not None
    assert "--resources is not a JSON object" in args.error


@pytest.mark.parametrize("opt", ["num-cpus", "num-gpus", "memory"])
def test_invalid_numeric_value_is_an_error(opt: str) -> None:
    """`--num-cpus=two` makes ray start exit."""
    args = parse_ray_start(["ray", "start", f"--{opt}=two"])
    assert args.error == f"ray start: invalid value for --{opt}: 'two'"
