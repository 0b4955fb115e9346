"""Ray jobs that carry their own code: the node probe and the replica probe on a real cluster.

A driver outside the cluster cannot join Ray over a port-forward, so the probes run as Ray jobs
on the head. Their code travels inside the entrypoint itself (``python -c``, the modules'
sources compressed), so no working_dir is uploaded and nothing is installed in the image: the
job needs only the image's Python and Ray. The modules are loaded under names of their own
(``gpuconf_probe``…), which cannot shadow a package of the user's image such as ``entrypoints``;
they are registered with cloudpickle by value, so their functions reach the workers whole.
"""

from __future__ import annotations

import base64
import json
import shlex
import zlib
from pathlib import Path
from typing import Any

from gpuconf.waits import wait_until

ENTRYPOINTS = Path(__file__).resolve().parents[3] / "entrypoints"
#: Module name in the job -> its source file.
MODULES = {
    "gpuconf_probe": ENTRYPOINTS / "probe.py",
    "gpuconf_node_probe": ENTRYPOINTS / "node_probe.py",
    "gpuconf_replica_probe": ENTRYPOINTS / "replica_probe.py",
}
_DONE = ("SUCCEEDED", "FAILED", "STOPPED")


class JobFailed(RuntimeError):
    """A probe job did not produce its result; the message carries the job's log tail."""


def inline_entrypoint(call: str) -> str:
    """A ``python -c`` command that loads MODULES from their sources, then runs ``call``."""
    packed = [(name, base64.b64encode(zlib.compress(path.read_bytes(), 9)).decode()) for name, path in MODULES.items()]
    code = "\n".join(
        [
            "import base64, sys, types, zlib",
            f"for name, src in {packed!r}:",
            "    mod = types.ModuleType(name)",
            "    sys.modules[name] = mod",
            "    exec(compile(zlib.decompress(base64.b64decode(src)).decode(), '<' + name + '>', 'exec'), mod.__dict__)",
            # cloudpickle takes a module in sys.modules for importable: these exist in this driver only.
            "from ray import cloudpickle",
            f"for name in {list(MODULES)!r}:",
            "    cloudpickle.register_pickle_by_value(sys.modules[name])",
            call,
        ]
    )
    return f"python -c {shlex.quote(code)}"


def parse_marked(logs: str, mark: str, what: str) -> list[dict[str, Any]]:
    """The JSON list after the last ``mark`` line of a job's logs."""
    lines = [line for line in logs.splitlines() if line.startswith(mark)]
    if not lines:
        raise JobFailed(f"the {what} job printed no {mark} line; its log ends:\n{logs[-2000:]}")
    try:
        return list(json.loads(lines[-1][len(mark) :]))
    except ValueError as exc:
        raise JobFailed(f"the {what} job's {mark} line is not JSON ({exc}); its log ends:\n{logs[-2000:]}") from exc


def run_inline_job(dashboard_url: str, call: str, mark: str, what: str, env: dict[str, str] | None = None) -> list[Any]:
    """Submit a job that runs ``call`` over MODULES, wait for it to end, return its marked output."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(dashboard_url)
    job = client.submit_job(
        entrypoint=inline_entrypoint(call),
        runtime_env={"env_vars": env} if env else None,
        metadata={"app.kubernetes.io/managed-by": "gpuconf", "gpuconf.io/job": what},
    )
    status = wait_until(
        lambda: (s := str(client.get_job_status(job).value)) in _DONE and s,
        f"Ray job {job} ({what}) to finish",
        tier="serve_app",
        interval=1.0,
    )
    logs = client.get_job_logs(job)
    if status != "SUCCEEDED":
        raise JobFailed(f"the {what} job {job} ended {status}; its log ends:\n{logs[-2000:]}")
    return parse_marked(logs, mark, what)


def replica_job_prober(dashboard_url: str, timeout_s: float) -> Any:
    """A Prober (gpuconf.live.replicas) that probes the replicas from a Ray job on the head."""
    from entrypoints.replica_probe import MARK, TARGETS_ENV, encode_targets

    def probe(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        env = {TARGETS_ENV: encode_targets(targets), "GPUCONF_REPLICA_TIMEOUT_S": str(timeout_s)}
        call = "sys.modules['gpuconf_replica_probe'].main(sys.modules['gpuconf_probe'])"
        return run_inline_job(dashboard_url, call, MARK, "replica probe", env)

    return probe
