"""`ray.serve.llm` apps: the deployments `build_openai_app` makes from `args.llm_configs`, without vLLM.

Follows Ray 2.60 (ray/llm/_internal/serve):

- core/ingress/builder.py `build_openai_app`: one LLMServer deployment per LLMConfig and an
  `OpenAiIngress` deployment (min_replicas 0 when every model scales to zero);
- core/server/builder.py `build_llm_deployment`: name `LLMServer:<model_id with / as -- and . as _>`
  (or deployment_config.name), options from deployment_config with an autoscaling_config default;
- engines/vllm/vllm_models.py: devices per replica = tensor_parallel_size x pipeline_parallel_size;
  placement bundles from placement_group_config (bundle_per_worker x devices, or `bundles`), else
  the accelerator's defaults (core/configs/accelerators.py: GPU `{"GPU": 1}` per device, with
  `accelerator_type:<T>: 0.001` when accelerator_type is set; CPU `{"CPU": 1}`); strategy from
  placement_group_config, else PACK (best effort: bundles may spread over nodes);
- core/server/llm_server.py `get_deployment_options`: the replica actor's own resources
  (num_cpus default 1) are added to the first bundle, where the replica runs.
The accelerator kind: accelerator_config.kind, else from the bundles (TPU, GPU, else CPU), else
from accelerator_type (a TPU type: TPU), else GPU (llm_config.py `_resolve_accelerator_config`).
TPU apps are not modelled (their bundles depend on the slice topology): they stay unseen.
"""

from __future__ import annotations

from typing import Any

LLM_BUILDERS = ("ray.serve.llm:build_openai_app", "ray.serve.llm.build_openai_app")
INGRESS_NAME = "OpenAiIngress"


def _kind(config: dict[str, Any]) -> str:
    accel = config.get("accelerator_config")
    if isinstance(accel, dict) and accel.get("kind"):
        return str(accel["kind"])
    pg = config.get("placement_group_config") or {}
    bundles = [pg.get("bundle_per_worker") or {}, *(pg.get("bundles") or [])]
    if pg:
        if any((b or {}).get("TPU", 0) > 0 for b in bundles):
            return "tpu"
        if any((b or {}).get("GPU", 0) > 0 for b in bundles):
            return "gpu"
    accel_type = str(config.get("accelerator_type") or "")
    if accel_type.upper().startswith("TPU"):
        return "tpu"
    return "gpu"


def num_devices(config: dict[str, Any]) -> int:
    """tensor_parallel_size x pipeline_parallel_size of engine_kwargs."""
    kwargs = config.get("engine_kwargs") or {}
    return int(kwargs.get("tensor_parallel_size", 1) or 1) * int(kwargs.get("pipeline_parallel_size", 1) or 1)


def bundles(config: dict[str, Any]) -> list[dict[str, float]] | None:
    """The placement-group bundles of one replica (None: not modelled, a TPU app)."""
    kind = _kind(config)
    if kind == "tpu":
        return None
    n = num_devices(config)
    accel = config.get("accelerator_type")
    key = f"accelerator_type:{accel}" if accel else None
    pg = config.get("placement_group_config") or {}
    if pg.get("bundle_per_worker") is not None:
        out = [{str(k): float(v) for k, v in pg["bundle_per_worker"].items()} for _ in range(n)]
    elif pg.get("bundles"):
        out = [{str(k): float(v) for k, v in b.items()} for b in pg["bundles"]]
    elif kind == "cpu":
        return [{"CPU": 1.0} for _ in range(n)]
    else:
        out = [{"GPU": 1.0} for _ in range(n)]
    if key:
        for b in out:
            b.setdefault(key, 0.001)
    return out


def strategy(config: dict[str, Any]) -> str:
    """placement_group_config.strategy, else PACK."""
    return str((config.get("placement_group_config") or {}).get("strategy", "PACK"))


def deployment_name(config: dict[str, Any]) -> str:
    """`LLMServer:` + deployment_config.name, or the model id with `/` as `--` and `.` as `_`."""
    dc = config.get("deployment_config") or {}
    model_id = str((config.get("model_loading_config") or {}).get("model_id", ""))
    return "LLMServer:" + str(dc.get("name") or model_id.replace("/", "--").replace(".", "_"))


def llm_configs(app: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The inline LLMConfigs of a `build_openai_app` app (None: not one, or configs given as files)."""
    if app.get("import_path") not in LLM_BUILDERS:
        return None
    configs = (app.get("args") or {}).get("llm_configs")
    if not isinstance(configs, list) or not configs or not all(isinstance(c, dict) for c in configs):
        return None
    if any(bundles(c) is None for c in configs):
        return None
    return configs


def scales_to_zero(configs: list[dict[str, Any]]) -> bool:
    """Every model's autoscaling_config has min_replicas 0: the ingress scales to zero too."""
    return all(
        ((c.get("deployment_config") or {}).get("autoscaling_config") or {}).get("min_replicas") == 0 for c in configs
    )
