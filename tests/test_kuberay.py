"""Unit tests of gpuconf.model.kuberay: the `ray start` command KubeRay's pod builder generates per group."""

from __future__ import annotations

import textwrap
from decimal import Decimal

import pytest

from gpuconf.errors import InputError, Loc
from gpuconf.inputs.loader import LDict, load_yaml_documents
from gpuconf.model.kuberay import cluster_groups, is_gpu_resource

HEAD = """\
headGroupSpec:
  rayStartParams: {}
  template:
    spec:
      containers:
        - name: ray-head
          image: rayproject/ray:2.60.0
"""


def spec_of(text: str) -> LDict:
    """A RayCluster spec from YAML text (file t.yaml)."""
    [doc] = load_yaml_documents(textwrap.dedent(text), "t.yaml")
    return doc


def worker(resources: str = "", params: str = "{}", extra: str = "", pod_extra: str = "") -> LDict:
    """A spec with a bare head and one worker group `w` (2 replicas)."""
    res = textwrap.indent(textwrap.dedent(resources), " " * 14) if resources else ""
    text = (
        HEAD
        + f"""\
workerGroupSpecs:
  - groupName: w
    replicas: 2
    rayStartParams: {params}
{textwrap.indent(textwrap.dedent(extra), "    ") if extra else ""}\
    template:
      spec:
{textwrap.indent(textwrap.dedent(pod_extra), "        ") if pod_extra else ""}\
        containers:
          - name: ray-worker
            image: rayproject/ray:2.60.0
            resources:
{res or "              {}"}
"""
    )
    return spec_of(text)


def test_head_command_bare() -> None:
    """The head: --head, sorted `--k=v` params, --block, default ports, dashboard host."""
    [head] = cluster_groups(spec_of(HEAD), "c")
    assert head.is_head and head.name == "headgroup" and head.replicas == 1
    assert head.command == (
        "ray start --head  --block  --dashboard-agent-listen-port=52365  "
        "--dashboard-host=0.0.0.0  --metrics-export-port=8080 "
    )
    assert head.start.error is None
    assert head.start.flags == {"head", "block"}


def test_worker_command_from_limits() -> None:
    """num-cpus from limits.cpu, memory in bytes from limits.memory, num-gpus from nvidia.com/gpu."""
    spec = worker("""\
        limits:
          cpu: "4"
          memory: 16Gi
          nvidia.com/gpu: 1
    """)
    _head, w = cluster_groups(spec, "c")
    assert (w.name, w.is_head, w.replicas) == ("w", False, 2)
    assert w.command == (
        "ray start  --address=c-head-svc.default.svc.cluster.local:6379  --block  --dashboard-agent-listen-port=52365  "
        "--memory=17179869184  --metrics-export-port=8080  --num-cpus=4  --num-gpus=1 "
    )
    assert w.start.resources() == {"CPU": 4.0, "GPU": 1.0, "memory": 17179869184.0}
    assert w.gpu_limit() == Decimal(1)


def test_num_cpus_falls_back_to_requests_and_rounds_up() -> None:
    """No cpu limit: requests.cpu (KubeRay >= 1.3), rounded up like Quantity.Value()."""
    spec = worker("""\
        requests:
          cpu: 500m
    """)
    w = cluster_groups(spec, "c")[1]
    assert w.params == {}
    assert "--num-cpus=1 " in w.command
    assert w.start.options["num-cpus"] == "1"


def test_limit_cpu_wins_over_request() -> None:
    """limits.cpu is read first; 1500m rounds up to 2."""
    spec = worker("""\
        limits: {cpu: 1500m}
        requests: {cpu: "1"}
    """)
    assert cluster_groups(spec, "c")[1].start.options["num-cpus"] == "2"


def test_memory_only_from_limits() -> None:
    """requests.memory alone does not set --memory."""
    spec = worker("""\
        requests: {memory: 4Gi}
    """)
    assert "memory" not in cluster_groups(spec, "c")[1].start.options


@pytest.mark.parametrize(
    "limits, num_gpus",
    [
        ({"nvidia.com/mig-1g.10gb": "1"}, "1"),
        ({"amd.com/gpu": "2"}, "2"),
        ({"nvidia.com/gpu": "0", "amd.com/gpu": "3"}, "3"),  # a zero limit is skipped
        ({"example.com/fpga": "1"}, None),
        ({"nvidia.com/mig-1g.10gb-extra": "1"}, None),
    ],
)
def test_num_gpus_from_gpu_like_limits(limits: dict[str, str], num_gpus: str | None) -> None:
    """The first non-zero limit (sorted by name) ending in `gpu`, or a MIG slice, gives --num-gpus."""
    body = "limits:\n" + "".join(f'  {k}: "{v}"\n' for k, v in limits.items())
    w = cluster_groups(worker(body), "c")[1]
    assert w.start.options.get("num-gpus") == num_gpus


def test_is_gpu_resource() -> None:
    """KubeRay's test for GPU limit names."""
    assert is_gpu_resource("nvidia.com/gpu")
    assert is_gpu_resource("nvidia.com/mig-3g.40gb")
    assert not is_gpu_resource("nvidia.com/gpu.shared-memory")
    assert not is_gpu_resource("cpu")


def test_explicit_ray_start_params_win() -> None:
    """num-cpus/num-gpus/memory given in rayStartParams are not overwritten from the limits."""
    spec = worker(
        """\
        limits: {cpu: "4", memory: 16Gi, nvidia.com/gpu: 1}
    """,
        params='{num-cpus: "1", num-gpus: "0", memory: "1000", metrics-export-port: "9090"}',
    )
    w = cluster_groups(spec, "c")[1]
    assert w.start.options["num-cpus"] == "1"
    assert w.start.options["num-gpus"] == "0"
    assert w.start.options["memory"] == "1000"
    assert w.start.options["metrics-export-port"] == "9090"
    assert w.command.count("--num-cpus") == 1


def test_explicit_address_and_dashboard_host_win() -> None:
    """A given address (worker) and dashboard-host (head) are kept."""
    spec = spec_of(HEAD.replace("rayStartParams: {}", 'rayStartParams: {dashboard-host: "127.0.0.1"}'))
    assert "--dashboard-host=127.0.0.1 " in cluster_groups(spec, "c")[0].command
    w = cluster_groups(worker(params='{address: "elsewhere:1234"}'), "c")[1]
    assert w.start.options["address"] == "elsewhere:1234"


def test_non_string_param_is_an_input_error_at_its_line() -> None:
    """`num-gpus: 1` unquoted: the CRD's map[string]string refuses it."""
    spec = spec_of(
        HEAD
        + """\
workerGroupSpecs:
  - groupName: w
    replicas: 1
    rayStartParams:
      num-gpus: 1
    template:
      spec:
        containers:
          - name: ray-worker
            image: img
"""
    )
    with pytest.raises(InputError) as exc:
        cluster_groups(spec, "c")
    assert exc.value.loc == Loc("t.yaml", 12)
    assert "rayStartParams.num-gpus must be a string" in exc.value.message
    assert 'num-gpus: "1"' in exc.value.fix


def test_boolean_params_become_flags() -> None:
    """ "true" → bare flag, "false" → dropped; log-color and include-dashboard keep their value."""
    spec = worker(
        params='{disable-usage-stats: "true", no-monitor: "False", log-color: "true", '
        'include-dashboard: "false", verbose: "TRUE"}'
    )
    cmd = cluster_groups(spec, "c")[1].command
    assert " --disable-usage-stats " in cmd
    assert " --verbose " in cmd
    assert "no-monitor" not in cmd
    assert " --log-color=true " in cmd
    assert " --include-dashboard=false " in cmd


def test_params_are_sorted() -> None:
    """KubeRay sorts rayStartParams keys before joining them."""
    spec = worker(params='{zzz: "1", aaa: "2", object-store-memory: "100"}')
    names = [w.split("=")[0] for w in cluster_groups(spec, "c")[1].start.argv[2:]]
    assert names == sorted(names)
    assert names[0] == "--aaa" and names[-1] == "--zzz"


def test_pod_requests_default_to_limits_and_include_init_container() -> None:
    """Requests default to limits per resource; the wait-gcs-ready init container counts as a max."""
    spec = worker("""\
        limits: {cpu: 100m, memory: 4Gi, nvidia.com/gpu: 1}
        requests: {memory: 128Mi}
    """)
    head, w = cluster_groups(spec, "c")
    assert w.pod_requests == {"cpu": Decimal("0.2"), "memory": Decimal(256 * 1024**2), "nvidia.com/gpu": Decimal(1)}
    assert head.pod_requests == {}  # the head gets no init container


def test_pod_requests_sum_containers_then_max_with_init() -> None:
    """Two containers add up; a user init container bigger than that wins."""
    spec = spec_of(
        HEAD
        + """\
workerGroupSpecs:
  - groupName: w
    replicas: 1
    template:
      spec:
        initContainers:
          - name: warm
            image: img
            resources: {requests: {cpu: "3"}}
        containers:
          - name: ray-worker
            image: img
            resources: {requests: {cpu: "1", memory: 1Gi}}
          - name: sidecar
            image: img
            resources: {requests: {cpu: 500m, memory: 1Gi}}
"""
    )
    w = cluster_groups(spec, "c")[1]
    assert w.pod_requests == {"cpu": Decimal(3), "memory": Decimal(2 * 1024**3)}
    assert w.start.options["num-cpus"] == "1"  # only the Ray container (the first) feeds ray start


def test_replicas_suspend_and_num_of_hosts() -> None:
    """replicas × numOfHosts pods; a suspended group has none."""
    assert cluster_groups(worker(extra="numOfHosts: 2\n"), "c")[1].replicas == 4
    assert cluster_groups(worker(extra="suspend: true\n"), "c")[1].replicas == 0


@pytest.mark.parametrize("extra, expected", [("minReplicas: 3\n", 3), ("maxReplicas: 1\n", 1)])
def test_replicas_clamped_to_min_and_max(extra: str, expected: int) -> None:
    """KubeRay's GetWorkerGroupDesiredReplicas clamps replicas (2 here) into [minReplicas, maxReplicas]."""
    assert cluster_groups(worker(extra=extra), "c")[1].replicas == expected


def test_group_level_resources_rendered_single_quoted() -> None:
    """KubeRay >= 1.5 `resources:` becomes --resources='{...}' that survives bash."""
    spec = worker(extra="resources:\n  gpu_worker: 1\n")
    w = cluster_groups(spec, "c")[1]
    assert """ --resources='{"gpu_worker":1}' """ in w.command
    assert w.start.error is None
    assert w.start.custom_resources() == {"gpu_worker": 1.0}


def test_group_level_resources_quoted_quantities_become_numbers() -> None:
    """The CRD's resources field is map[string]string: `"1"` is rendered as the number 1, keys sorted."""
    spec = worker(extra='resources:\n  zeta: "2"\n  gpu_worker: "1"\n')
    w = cluster_groups(spec, "c")[1]
    assert """ --resources='{"gpu_worker":1,"zeta":2}' """ in w.command


def test_group_level_labels() -> None:
    """KubeRay >= 1.5 `labels:` becomes --labels=k=v,... sorted by key."""
    spec = worker(extra="labels:\n  zone: z1\n  tier: gpu\n")
    w = cluster_groups(spec, "c")[1]
    assert " --labels=tier=gpu,zone=z1 " in w.command
    assert w.start.labels() == {"tier": "gpu", "zone": "z1"}


def test_group_resources_and_param_resources_conflict() -> None:
    """Both the group field and rayStartParams.resources: an InputError at the field."""
    spec = worker(params="""{resources: '"{\\"a\\": 1}"'}""", extra="resources:\n  gpu_worker: 1\n")
    with pytest.raises(InputError) as exc:
        cluster_groups(spec, "c")
    assert exc.value.loc == Loc("t.yaml", 12)
    assert "both" in exc.value.message


def test_group_resources_conflict_with_num_cpus_param() -> None:
    """KubeRay's validateRayGroupResources also refuses group resources with rayStartParams num-cpus."""
    spec = worker(params='{num-cpus: "2"}', extra="resources:\n  gpu_worker: 1\n")
    with pytest.raises(InputError):
        cluster_groups(spec, "c")


def test_seed_param_value_breaks_ray_start() -> None:
    """The seed's rayStartParams.resources is split by bash: ray start fails with a stray argument."""
    spec = worker(params="""{resources: "{\\"gpu_worker\\": 1}"}""")
    w = cluster_groups(spec, "c")[1]
    assert """ --resources={"gpu_worker": 1} """ in w.command
    assert w.start.error is not None and "unexpected extra argument (1})" in w.start.error


def test_env_and_pod_labels_are_kept() -> None:
    """Plain env values and template labels are carried for the rules."""
    spec = spec_of(
        HEAD
        + """\
workerGroupSpecs:
  - groupName: cpu
    replicas: 1
    template:
      metadata:
        labels: {team: ml}
      spec:
        containers:
          - name: ray-worker
            image: img
            env:
              - {name: NVIDIA_VISIBLE_DEVICES, value: all}
              - name: FROM_FIELD
                valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
"""
    )
    w = cluster_groups(spec, "c")[1]
    assert w.env == {"NVIDIA_VISIBLE_DEVICES": "all"}
    assert w.pod_labels == {"team": "ml"}
    assert w.label == "cpu"


def test_missing_head_group_is_an_input_error() -> None:
    """No headGroupSpec: an InputError naming the spec."""
    with pytest.raises(InputError) as exc:
        cluster_groups(spec_of("workerGroupSpecs: []\n"), "c")
    assert "headGroupSpec" in exc.value.message
    assert exc.value.loc == Loc("t.yaml", 1)


def test_explicit_null_replica_fields_read_as_unset() -> None:
    """`maxReplicas: null` / `replicas: null` are KubeRay's unset *int32: defaults, never a crash."""
    from gpuconf.model.kuberay import _replicas

    assert _replicas({}, (), {"minReplicas": 1, "maxReplicas": None, "replicas": 3}) == 3
    assert _replicas({}, (), {"minReplicas": 2, "replicas": None}) == 2
    assert _replicas({}, (), {"replicas": 5, "maxReplicas": 0}) == 0
