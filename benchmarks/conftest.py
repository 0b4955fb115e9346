"""Benchmark-only options, hooks and fixtures (the core fixtures come from gpuconf.testing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpuconf.bench.gate import Thresholds, load_thresholds
from gpuconf.bench.profiles import BenchConfig, load_config
from gpuconf.bench.runner import BenchRunner
from gpuconf.bench.twins import TwinError, find_ml_app, reference_stand_in
from gpuconf.live.apps import ServeApps
from gpuconf.live.contract import LiveCluster, Observed
from gpuconf.live.verdicts import has_physical_gpu
from gpuconf.model.plan import Plan
from gpuconf.static.rules import run_rules
from gpuconf.testing.plugin import collector_of

HERE = Path(__file__).resolve().parent
CONFIG_PATH = HERE / "config.yaml"
THRESHOLDS_PATH = HERE / "thresholds.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("gpuconf").addoption(
        "--bench-profile",
        choices=("auto", "smoke", "realistic"),
        default=None,
        help="benchmark size (default: benchmarks/config.yaml's profile, auto: realistic when the GPU "
        "replica sees a physical GPU, else smoke)",
    )
    parser.getgroup("gpuconf").addoption(
        "--suite-rounds",
        type=int,
        default=1,
        help="runs per tier in benchmarks/suite/ (time to verdict of the suite itself; default 1)",
    )
    parser.getgroup("gpuconf").addoption(
        "--suite-tiers",
        default="embedded",
        help="comma list of the live tiers benchmarks/suite/ times: embedded, kwok, realpods (default "
        "embedded; kwok and realpods run against the machine's one control plane, so only when asked)",
    )


SUITE_DIR = HERE / "suite"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """benchmarks/suite/ (the suite timing itself: whole nested runs) only when named on the command
    line, e.g. by `make bench-suite`; `pytest benchmarks` and `make conformance` leave it out."""
    if collection_path != SUITE_DIR:
        return None
    named = [Path(str(a).split("::")[0]).resolve() for a in config.args]
    return not any(p == SUITE_DIR or SUITE_DIR in p.parents for p in named)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """Name the host's GPUs in benchmark.json's machine_info, so that --benchmark-compare warns when
    a baseline came from another GPU model."""
    from gpuconf.backends.localray.gpus import host_gpus

    # The profile is not recorded here: benchmark names carry the concrete model already, and
    # machine_info must read the same when compared (at start) as when saved (at the end).
    machine_info["gpus"] = sorted({g.name for g in host_gpus()}) or ["none"]


@pytest.fixture(scope="session")
def bench_config() -> BenchConfig:
    """benchmarks/config.yaml."""
    return load_config(CONFIG_PATH)


@pytest.fixture(scope="session")
def bench_thresholds() -> Thresholds:
    """benchmarks/thresholds.yaml."""
    return load_thresholds(THRESHOLDS_PATH)


def _source(plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
    """The user's app and deployment the GPU twin copies: the first expected-GPU deployment that is
    an MLService app, else the first MLService app."""
    for d in plan.expectations.gpu_deployments:
        try:
            return find_ml_app(plan.target.serve.body, d.app, d.deployment)
        except ValueError:
            continue
    return find_ml_app(plan.target.serve.body)


@pytest.fixture(scope="module")
def bench(
    observed: Observed,
    live_cluster: LiveCluster,
    deployed: Any,
    serve_apps: ServeApps,
    plan: Plan,
    bench_config: BenchConfig,
    pytestconfig: pytest.Config,
) -> Iterator[BenchRunner]:
    """The twins of this module. Asks for `observed` first, so the conformance probes have run
    before the twins replace the user's apps; the twins deploy through `serve_apps`, so a later
    check that needs the user's apps gets them back (whatever the order of the tests)."""
    serve_body: Any = plan.target.serve.body
    try:
        found_app, found_dep = _source(plan)
        user = observed.of(found_app.get("name", "default"), found_dep.get("name", "MLService"))
        model_note = f"the twins serve {found_app.get('name', 'default')}/{found_dep.get('name')}'s own model"
    except TwinError:
        # A user's own app: the reference model stands in, placed with the options as deployed.
        gpu = [v for d in plan.expectations.gpu_deployments if (v := observed.deployment(d.app, d.deployment))]
        if not gpu:
            pytest.skip("no expected GPU deployment is running: nothing to place the benchmark twins like")
        serve_body = reference_stand_in(gpu[0].options.get("ray_actor_options"))
        found_app, found_dep = find_ml_app(serve_body)
        user = observed.of(gpu[0].app, gpu[0].name)
        model_note = (
            f"the twins serve gpuconf's reference model placed with {gpu[0].key}'s ray_actor_options as deployed: "
            "the GPU-vs-CPU gate is on the reference model, since a user's app need not run on a CPU"
        )
    collector_of(pytestconfig).environment["bench_model"] = model_note
    physical = any(has_physical_gpu(o.probe) for o in user)
    profile = bench_config.resolve(pytestconfig.getoption("--bench-profile"), physical)
    runner = BenchRunner(
        handle=live_cluster.serve,
        http_url=deployed.http_url,
        records=live_cluster.records,
        serve_body=serve_body,
        ray_nodes=plan.ray_nodes,
        config=bench_config,
        profile=profile,
        explain={f.rule: f.message for f in run_rules(plan)},
        host_gpus=len(live_cluster.physical_gpus),
        source_app=found_app.get("name", "default"),
        source_deployment=found_dep.get("name"),
        apps=serve_apps,
        observe_apps=live_cluster.observe_apps,
    )
    try:
        yield runner
    finally:
        runner.client_close()
        collector = collector_of(pytestconfig)
        collector.stages.update({f"bench_twins_{k}": v for k, v in runner.deploy_s.items()})
