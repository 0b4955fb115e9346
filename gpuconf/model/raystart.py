"""What `ray start` makes of its arguments: the node's resources and labels, or why it refuses them.

The refusals are Ray 2.60's (tests/test_raystart_values.py holds them against Ray's own code):

- the options click types as `int` (ray/scripts/scripts.py) take what Python's int() reads:
  `--num-gpus=1.5` or `--num-cpus=1e3` is a usage error;
- every amount — CPU, GPU, memory, object store memory and each custom resource of
  --resources — must be a number, whole, at least 0 and at most 1e14
  (ResourceAndLabelSpec.to_resource_dict in ray/_private/resource_and_label_spec.py): a string
  or 0.5 in --resources stops the node;
- --resources must be a JSON object (parse_resources_json) without CPU, GPU, memory or
  object_store_memory in it (RayParams._check_usage), nor the reserved head-node resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuconf.model.resources_json import ResourcesJsonError, json_object, ray_start_resources

# Options of `ray start` that take a value; used to tell a stray word from an option's value.
_FLAGS_WITHOUT_VALUE = {"head", "block", "include-dashboard", "no-monitor", "disable-usage-stats", "verbose"}
# `ray start` options whose click type is int (ray/scripts/scripts.py, Ray 2.60).
INT_OPTIONS = frozenset(
    {
        "port",
        "node-manager-port",
        "object-manager-port",
        "runtime-env-agent-port",
        "min-worker-port",
        "max-worker-port",
        "ray-client-server-port",
        "memory",
        "object-store-memory",
        "num-cpus",
        "num-gpus",
        "dashboard-port",
        "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port",
        "metrics-export-port",
        "system-reserved-memory",
    }
)
# Options that are Ray resources, and the resource each becomes.
RESOURCE_OPTIONS = {
    "num-cpus": "CPU",
    "num-gpus": "GPU",
    "memory": "memory",
    "object-store-memory": "object_store_memory",
}
# Ray's largest resource quantity (ray_constants.MAX_RESOURCE_QUANTITY).
MAX_RESOURCE_QUANTITY = 100e12
# The resource Ray reserves for the head node (ray._common.constants.HEAD_NODE_RESOURCE_NAME).
HEAD_NODE_RESOURCE = "node:__internal_head__"


@dataclass(frozen=True)
class Refusal:
    """A value `ray start` refuses: the option, and why."""

    option: str
    why: str
    fix: str


@dataclass
class RayStartArgs:
    """The parsed `ray start` command line of one Ray node."""

    argv: list[str]
    options: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    error: str | None = None
    # Set when the error is a value of one option (not the command line's shape).
    refusal: Refusal | None = None

    @property
    def is_head(self) -> bool:
        """True for `ray start --head`."""
        return "head" in self.flags

    def resources(self) -> dict[str, float]:
        """Resources given explicitly: CPU, GPU, memory (bytes) and custom ones (those `ray start` reads)."""
        out: dict[str, float] = {}
        for opt, key in (("num-cpus", "CPU"), ("num-gpus", "GPU"), ("memory", "memory")):
            if opt in self.options:
                try:
                    out[key] = float(int(self.options[opt]))
                except ValueError:
                    continue  # refused: the node never starts (self.error)
        out.update(self.custom_resources())
        return out

    def custom_resources(self) -> dict[str, float]:
        """The --resources JSON (empty when absent or when `ray start` cannot read it)."""
        raw = self.options.get("resources")
        if not raw:
            return {}
        try:
            parsed = ray_start_resources(raw)
        except ResourcesJsonError:
            return {}
        return {str(k): float(v) for k, v in parsed.items() if _is_number(v)}

    def labels(self) -> dict[str, str]:
        """The --labels option: `k=v,k2=v2` (or a JSON object, as older Ray took)."""
        raw = self.options.get("labels")
        if not raw:
            return {}
        raw = raw.strip()
        if raw.startswith("{"):
            try:
                return {str(k): str(v) for k, v in json_object(raw).items()}
            except ResourcesJsonError:
                return {}
        out = {}
        for pair in filter(None, (p.strip() for p in raw.split(","))):
            key, _, value = pair.partition("=")
            out[key.strip()] = value.strip()
        return out


def _is_number(value: Any) -> bool:
    # Ray checks isinstance(int | float): a JSON true is Python's 1 and passes.
    return isinstance(value, (int, float))


def parse_ray_start(argv: list[str]) -> RayStartArgs:
    """Parse `ray start ...` argv (after the shell's splitting) the way its CLI would.

    A stray word (what an unescaped JSON value leaves behind), --resources that is not a JSON
    object, or a value `ray start` refuses (module docstring) is recorded as the error.
    """
    args = RayStartArgs(argv=list(argv))
    words = list(argv)
    if words[:2] == ["ray", "start"]:
        words = words[2:]
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--"):
            args.error = f"ray start: Got unexpected extra argument ({word})"
            return args
        name, eq, value = word[2:].partition("=")
        if eq:
            args.options[name] = value
        elif name in _FLAGS_WITHOUT_VALUE:
            args.flags.add(name)
        elif i + 1 < len(words) and not words[i + 1].startswith("--"):
            args.options[name] = words[i + 1]
            i += 1
        else:
            args.flags.add(name)
        i += 1
    raw = args.options.get("resources")
    try:
        custom = ray_start_resources(raw) if raw else {}
    except ResourcesJsonError as exc:
        args.error = f"ray start: --resources is not a JSON object ({exc})"
        return args
    args.refusal = refusal(args.options, custom)
    if args.refusal is not None:
        opt = args.refusal.option
        shown = args.refusal.why if opt == "resources" else repr(args.options[opt])
        args.error = f"ray start: invalid value for --{opt}: {shown}"
    return args


def refusal(options: dict[str, str], custom: dict[str, Any]) -> Refusal | None:
    """The first value `ray start` refuses among these options and --resources amounts (None: all accepted)."""
    amounts: dict[str, tuple[str, Any]] = {}
    for opt in sorted(INT_OPTIONS & set(options)):
        try:
            number = int(options[opt])  # click's IntParamType calls int() on the string
        except ValueError:
            return Refusal(
                opt,
                f"{options[opt]!r} is not a valid integer (ray start's --{opt} takes a whole number)",
                f'give a whole number, e.g. {opt}: "{_whole(options[opt])}"',
            )
        if opt in RESOURCE_OPTIONS:
            amounts[RESOURCE_OPTIONS[opt]] = (opt, number)
    for name in ("CPU", "GPU", "memory", "object_store_memory"):
        if name in custom:
            flag = next(o for o, r in RESOURCE_OPTIONS.items() if r == name)
            return Refusal(
                "resources",
                f"{name!r} cannot be a custom resource: it is one of Ray's default resources",
                f'set it with {flag}: "{_whole(custom[name])}" instead of in resources',
            )
    if HEAD_NODE_RESOURCE in custom:
        return Refusal("resources", f"{HEAD_NODE_RESOURCE!r} is a name Ray reserves", "use another resource name")
    for key, value in custom.items():
        amounts[str(key)] = ("resources", value)
    for name, (opt, value) in amounts.items():
        why = amount_problem(value)
        if why:
            where = f"resource {name!r}" if opt == "resources" else f"{value!r}"
            example = f'{{"{name}": {_whole(value)}}}' if opt == "resources" else f'{opt}: "{_whole(value)}"'
            return Refusal(opt, f"{where}: {why}", f"give a whole number of at least 0, e.g. {example}")
    return None


def amount_problem(value: Any) -> str | None:
    """Why Ray refuses this resource amount (None: accepted). Ray drops zeros before it checks."""
    if isinstance(value, (int, float)) and value == 0:
        return None
    if not _is_number(value):
        return f"{value!r} is not a number (Ray's resource amounts are numbers)"
    if isinstance(value, float) and not value.is_integer():
        return f"{value!r} is not a whole number (a node's resource quantities must be whole)"
    if value < 0:
        return f"{value!r} is negative (resource quantities must be at least 0)"
    if value > MAX_RESOURCE_QUANTITY:
        return f"{value!r} is more than Ray's largest quantity {MAX_RESOURCE_QUANTITY:g}"
    return None


def _whole(value: Any) -> int:
    """A whole number near `value`, for a fix's example (1 when there is none)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 1
    if number != number or number in (float("inf"), float("-inf")):
        return 1
    return max(round(number), 1) if number > 0 else 1
