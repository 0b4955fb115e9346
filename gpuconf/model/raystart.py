"""What `ray start` makes of its arguments: the node's resources and labels."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# Options of `ray start` that take a value; used to tell a stray word from an option's value.
_FLAGS_WITHOUT_VALUE = {"head", "block", "include-dashboard", "no-monitor", "disable-usage-stats", "verbose"}


@dataclass
class RayStartArgs:
    """The parsed `ray start` command line of one Ray node."""

    argv: list[str]
    options: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    error: str | None = None

    @property
    def is_head(self) -> bool:
        """True for `ray start --head`."""
        return "head" in self.flags

    def resources(self) -> dict[str, float]:
        """Resources given explicitly: CPU, GPU, memory (bytes) and custom ones."""
        out: dict[str, float] = {}
        for opt, key in (("num-cpus", "CPU"), ("num-gpus", "GPU"), ("memory", "memory")):
            if opt in self.options:
                out[key] = float(self.options[opt])
        out.update(self.custom_resources())
        return out

    def custom_resources(self) -> dict[str, float]:
        """The --resources JSON (empty when absent)."""
        raw = self.options.get("resources")
        if not raw:
            return {}
        parsed = json.loads(raw)
        return {str(k): float(v) for k, v in parsed.items()}

    def labels(self) -> dict[str, str]:
        """The --labels option: `k=v,k2=v2` (or a JSON object, as older Ray took)."""
        raw = self.options.get("labels")
        if not raw:
            return {}
        raw = raw.strip()
        if raw.startswith("{"):
            return {str(k): str(v) for k, v in json.loads(raw).items()}
        out = {}
        for pair in filter(None, (p.strip() for p in raw.split(","))):
            key, _, value = pair.partition("=")
            out[key.strip()] = value.strip()
        return out


def parse_ray_start(argv: list[str]) -> RayStartArgs:
    """Parse `ray start ...` argv (after the shell's splitting) the way its CLI would.

    A stray word (what an unescaped JSON value leaves behind) or invalid JSON in
    --resources makes `ray start` exit with an error; that error is recorded.
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
    for opt in ("num-cpus", "num-gpus", "memory"):
        if opt in args.options:
            try:
                float(args.options[opt])
            except ValueError:
                args.error = f"ray start: invalid value for --{opt}: {args.options[opt]!r}"
                return args
    try:
        args.custom_resources()
    except (ValueError, AttributeError) as exc:
        args.error = f"ray start: --resources is not a JSON object ({args.options.get('resources')!r}: {exc})"
    return args
