"""A user's second Serve app: an ingress listed first, and an embedding model on half a GPU.

Its options come from the Serve config (serve-config.yaml lists both deployments).
"""

from __future__ import annotations

import hashlib

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request


@serve.deployment
class Embedder:
    """The model: stands in for a sentence embedder (a stable 8-number vector per text)."""

    def embed(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        return [b / 255 for b in digest[:8]]


@serve.deployment
class EmbedIngress:
    """The HTTP ingress: parses the request and calls the model."""

    def __init__(self, model: DeploymentHandle) -> None:
        self.model = model

    async def __call__(self, request: Request) -> dict[str, list[float]]:
        body = await request.json()
        return {"embedding": await self.model.embed.remote(str(body.get("text", "")))}


app = EmbedIngress.bind(Embedder.bind())
