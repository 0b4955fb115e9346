"""Unit tests of gpuconf.model.raysched: what each Serve replica asks Ray for and where it can run."""

from __future__ import annotations

import textwrap

import pytest

from gpuconf.errors import Loc
from gpuconf.inputs.loader import LDict, load_yaml_documents
from gpuconf.model.raysched import (
    RayNodeView,
    ReplicaDemand,
    demands_from_serve,
    label_matches,
    node_misfit,
    place_replicas,
)


def serve(text: str) -> LDict:
    """A Serve config body from YAML (file s.yaml)."""
    [doc] = load_yaml_documents(textwrap.dedent(text), "s.yaml")
    return doc


def demand(resources: dict[str, float], replicas: int = 1, selector: dict[str, str] | None = None) -> ReplicaDemand:
    """A demand built by hand."""
    return ReplicaDemand("app", "Dep", replicas, resources, selector or {}, None, None)


def test_default_num_cpus_is_one() -> None:
    """Serve reserves one CPU per replica when ray_actor_options leave num_cpus unset."""
    [d] = demands_from_serve(
        serve("""\
        applications:
          - name: app
            deployments:
              - name: Plain
    """)
    )
    assert (d.app, d.deployment, d.key) == ("app", "Plain", "app/Plain")
    assert d.num_replicas == 1
    assert d.resources == {"CPU": 1.0}
    assert d.num_gpus == 0.0
    assert d.loc == Loc("s.yaml", 4)


def test_explicit_options() -> None:
    """num_cpus 0 is dropped, num_gpus/memory/custom resources kept, accelerator_type becomes a resource."""
    [d] = demands_from_serve(
        serve("""\
        applications:
          - name: ml
            deployments:
              - name: Gpu
                num_replicas: 2
                ray_actor_options:
                  num_cpus: 0
                  num_gpus: 0.5
                  memory: 1073741824
                  accelerator_type: H100
                  resources: {gpu_worker: 0.001}
                  label_selector: {ray.io/node-group: gpu-workers}
    """)
    )
    assert d.num_replicas == 2
    assert d.resources == {"GPU": 0.5, "memory": 1073741824.0, "gpu_worker": 0.001, "accelerator_type:H100": 0.001}
    assert d.label_selector == {"ray.io/node-group": "gpu-workers"}
    assert d.options_loc == Loc("s.yaml", 6)
    assert d.path == ("applications", 0, "deployments", 0)


@pytest.mark.parametrize(
    "block, replicas",
    [
        ("num_replicas: auto\n", 1),
        ("num_replicas: auto\nautoscaling_config: {min_replicas: 2}\n", 2),
        ("num_replicas: auto\nautoscaling_config: {min_replicas: 1, initial_replicas: 3}\n", 3),
        ("num_replicas: 4\n", 4),
        ("autoscaling_config: {min_replicas: 2, max_replicas: 5}\n", 2),
    ],
)
def test_replica_count(block: str, replicas: int) -> None:
    """Fixed counts; "auto" and autoscaling_config start from initial_replicas, else min_replicas."""
    body = serve("applications:\n  - name: a\n    deployments:\n      - name: D\n" + textwrap.indent(block, " " * 8))
    assert demands_from_serve(body)[0].num_replicas == replicas


def test_several_apps_and_deployments_keep_their_paths() -> None:
    """One demand per deployment, in order, with its own line."""
    ds = demands_from_serve(
        serve("""\
        applications:
          - name: a
            deployments:
              - name: D1
              - name: D2
          - name: b
            deployments:
              - name: D3
    """)
    )
    assert [(d.key, d.loc.line if d.loc else None) for d in ds] == [("a/D1", 4), ("a/D2", 5), ("b/D3", 8)]


@pytest.mark.parametrize(
    "want, labels, ok",
    [
        ("gpu", {"k": "gpu"}, True),
        ("gpu", {"k": "cpu"}, False),
        ("gpu", {}, False),
        ("!gpu", {"k": "cpu"}, True),
        ("!gpu", {"k": "gpu"}, False),
        ("!gpu", {}, True),  # a missing label is "not gpu"
        ("in(a,b)", {"k": "b"}, True),
        ("in(a, b)", {"k": "b"}, True),
        ("in(a,b)", {"k": "c"}, False),
        ("in(a,b)", {}, False),
        ("!in(a,b)", {"k": "c"}, True),
        ("!in(a,b)", {"k": "a"}, False),
        ("!in(a,b)", {}, True),
    ],
)
def test_label_matches(want: str, labels: dict[str, str], ok: bool) -> None:
    """Ray's label_selector operators per key."""
    assert label_matches({"k": want}, labels) is ok


def test_label_matches_all_keys() -> None:
    """Every key of the selector must match."""
    labels = {"ray.io/node-group": "gpu-workers", "zone": "a"}
    assert label_matches({"ray.io/node-group": "gpu-workers", "zone": "a"}, labels)
    assert not label_matches({"ray.io/node-group": "gpu-workers", "zone": "b"}, labels)
    assert label_matches({}, {})


def test_node_misfit_reasons() -> None:
    """Totals too small or labels not matching, each said in words."""
    node = RayNodeView("cpu-0", {"CPU": 2.0, "memory": 1000.0}, {"ray.io/node-group": "cpu"})
    assert node_misfit(demand({"CPU": 1.0}), node) == []
    assert node_misfit(demand({"CPU": 1.0, "GPU": 1.0, "memory": 2000.0}), node) == [
        "GPU: needs 1, node has 0",
        "memory: needs 2000 bytes, node has 1000 bytes",
    ]
    reasons = node_misfit(demand({"CPU": 1.0}, selector={"ray.io/node-group": "gpu"}), node)
    assert reasons == ["labels {'ray.io/node-group': 'cpu'} do not match label_selector {'ray.io/node-group': 'gpu'}"]


def test_accelerator_type_needs_the_resource_not_the_label() -> None:
    """A node labelled with the accelerator but without the resource does not fit."""
    d = demand({"GPU": 1.0, "accelerator_type:H100": 0.001})
    labelled = RayNodeView("g", {"GPU": 1.0}, {"ray.io/accelerator-type": "H100"})
    assert node_misfit(d, labelled) == ["accelerator_type:H100: needs 0.001, node has 0"]
    assert node_misfit(d, RayNodeView("g2", {"GPU": 1.0, "accelerator_type:H100": 1.0}, {})) == []


def test_place_replicas_until_gpus_run_out() -> None:
    """Two one-GPU nodes hold two one-GPU replicas; the third finds no GPU."""
    nodes = [
        RayNodeView("g0", {"CPU": 4.0, "GPU": 1.0}, {}),
        RayNodeView("g1", {"CPU": 4.0, "GPU": 1.0}, {}),
        RayNodeView("c0", {"CPU": 8.0}, {}),
    ]
    placed, short = place_replicas(demand({"CPU": 1.0, "GPU": 1.0}, replicas=3), nodes)
    assert placed == ["g0", "g1"]
    assert short == "GPU"
    assert nodes[0].available == {"CPU": 3.0, "GPU": 0.0}
    assert nodes[2].available == {"CPU": 8.0}


def test_place_replicas_short_of_cpu() -> None:
    """When GPUs remain but CPUs do not, the missing resource is CPU."""
    nodes = [RayNodeView("g0", {"CPU": 1.0, "GPU": 4.0}, {})]
    placed, short = place_replicas(demand({"CPU": 1.0, "GPU": 1.0}, replicas=2), nodes)
    assert placed == ["g0"]
    assert short == "CPU"


def test_place_replicas_fractional_all_fit() -> None:
    """Fractions add up: four 0.25-GPU replicas on one GPU."""
    nodes = [RayNodeView("g0", {"CPU": 4.0, "GPU": 1.0}, {})]
    placed, short = place_replicas(demand({"CPU": 0.5, "GPU": 0.25}, replicas=4), nodes)
    assert placed == ["g0"] * 4
    assert short is None


def test_place_replicas_no_feasible_node() -> None:
    """No node could ever host it: nothing placed and no resource blamed."""
    placed, short = place_replicas(demand({"GPU": 1.0}), [RayNodeView("c0", {"CPU": 8.0}, {})])
    assert placed == []
    assert short is None
