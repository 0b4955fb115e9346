"""Which Serve config runs on a session's cluster, as Ray Serve's own tests keep it.

The cluster is shared by the session; Serve configs come and go per test. A deploy replaces the
set of apps, so whatever deploys something else (a benchmark's twins, a test's own app) says so
here, and the user's config is deployed again before the next check that needs it. No check
depends on which ran before it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from gpuconf.live.serve import DeployedServe, ServeTarget, delete_all, deploy

USER = "user"  # the label of the Serve config under test


class ServeApps:
    """The Serve configs of one session's cluster: the user's under test, and any other by label."""

    def __init__(
        self,
        target: ServeTarget,
        user_body: Any,
        model: str | None,
        explain: dict[str, str] | None = None,
        base: Path | None = None,
    ) -> None:
        self.target = target
        self.base = base  # the user's Serve config's folder: relative working_dirs are read from it
        self.user_body = user_body
        self.model = model
        self.explain = explain
        self.current: str | None = None  # the label of what runs now (None: nothing, or unknown)
        self.user: DeployedServe | None = None
        self.redeploys = 0  # how often the user's config came back after something replaced it

    def ensure_user(self) -> DeployedServe:
        """The user's config, RUNNING; deployed again when something else replaced it (same object each time)."""
        if self.current == USER and self.user is not None:
            return self.user
        app = deploy(self.target, self.user_body, self.model, self.explain, self.base)
        if self.user is None:
            self.user = app
        else:  # session fixtures hold the first object: bring it up to date
            for f in dataclasses.fields(app):
                setattr(self.user, f.name, getattr(app, f.name))
            self.redeploys += 1
        self.current = USER
        return self.user

    def deploy(self, label: str, config: Any, model: str | None = None) -> DeployedServe:
        """Deploy another config under `label` (it replaces what runs)."""
        if label == USER:
            raise ValueError(f"{USER!r} is the label of the config under test; use ensure_user()")
        self.current = None  # a failed deploy leaves an unknown set of apps
        app = deploy(self.target, config, model, self.explain)
        self.current = label
        return app

    def is_running(self, label: str) -> bool:
        """Whether the config deployed under `label` is what runs now."""
        return self.current == label

    def remove_all(self) -> None:
        """Delete every app (the end of the session)."""
        self.current = None
        delete_all(self.target)
