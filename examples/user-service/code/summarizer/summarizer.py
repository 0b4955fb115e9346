"""A user's Serve app whose options live in code: a CPU ingress in front of a GPU model.

Nothing in it knows about gpuconf: no probe route, no extra dependency. The suite finds its
replicas in Serve's own details and probes each one from inside with `__ray_call__`.
"""

from __future__ import annotations

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request


@serve.deployment(ray_actor_options={"num_gpus": 1, "num_cpus": 0.5, "resources": {"gpu_worker": 0.001}})
class Summarizer:
    """The model: stands in for a seq2seq summarizer on the GPU (keeps the first quarter of the words)."""

    def summarize(self, text: str) -> str:
        words = text.split()
        return " ".join(words[: max(1, len(words) // 4)])


@serve.deployment(ray_actor_options={"num_cpus": 0.1, "resources": {"cpu_worker": 0.001}})
class SummarizerIngress:
    """The HTTP ingress, on a CPU worker: parses the request and calls the model."""

    def __init__(self, model: DeploymentHandle) -> None:
        self.model = model

    async def __call__(self, request: Request) -> dict[str, str]:
        body = await request.json()
        return {"summary": await self.model.summarize.remote(str(body.get("text", "")))}


app = SummarizerIngress.bind(Summarizer.bind())
