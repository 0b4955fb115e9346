"""The driver side of Ray's token auth: this process talks to a cluster that requires a token."""

from __future__ import annotations

import os
from collections.abc import Mapping


def set_driver_auth(env: Mapping[str, str | None]) -> None:
    """Point this process's Ray auth at the cluster's token (None: unset), and make Ray re-read it."""
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]  # Cython, no stub for Config

        # Ray reads RAY_AUTH_* once per process; these two calls make it read them again.
        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except ImportError:
        pass
