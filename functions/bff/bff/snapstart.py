"""Lambda SnapStart: what runs before the snapshot and after each restore.

One snapshot seeds many execution environments. Whatever the snapshot holds is shared by all of them, so:

- init under SnapStart (`AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`) does not warm the shared cache's client: the
  snapshot would keep a dead socket, and warming would call a service;
- before the snapshot: build what is built lazily (the OpenAPI schema), load what a first answer would load
  (Babel's locale data, the idempotency utility), and hold no connection;
- after each restore: drop every pooled connection and the shared cache's client (their sockets died with the
  snapshotted VM, their credentials may be another's), re-read the signing credentials, open the shared cache's
  client again, reseed `random` (or every environment draws the same retry jitter and hedges in lockstep), and
  forget any request's correlation and trace ids.

The hooks go in `snapshot_restore_py`'s registries, which the Lambda runtime ships and runs. Outside a SnapStart
runtime the package is usually absent (it is a dev dependency, for tests; the layer must not shadow the
runtime's copy), and then nothing is registered. Nothing before the snapshot touches a downstream service.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from typing import Any, Protocol

from bff.observability.logging import logger

SEED_BYTES = 32


class Environment(Protocol):
    """What the composition root built: its connections and what it loads lazily. A Protocol so that the hooks
    never import the composition root, and tests drive them with a recording environment."""

    async def reset(self) -> None: ...

    async def warm(self) -> bool: ...

    def preload(self) -> None: ...


class Schema(Protocol):
    """The app as the hooks use it (its OpenAPI document, built before the snapshot), without importing FastAPI."""

    def openapi(self) -> dict[str, Any]: ...


type Register = Callable[[Callable[[], None]], object]


def initialising_for_a_snapshot() -> bool:
    """Whether this init is the one SnapStart snapshots (Lambda says so in AWS_LAMBDA_INITIALIZATION_TYPE)."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"


def reseed_random() -> None:
    """Reseeds the module-level generator behind `random.uniform`, which the backoff draws its jitter from."""
    random.seed(os.urandom(SEED_BYTES))


def forget_request_state() -> None:
    logger.set_correlation_id(None)
    logger.remove_keys(["trace_id"])


class SnapStartHooks:
    def __init__(self, loop: asyncio.AbstractEventLoop, environment: Environment, app: Schema) -> None:
        self._loop = loop
        self._environment = environment
        self._app = app

    def before_snapshot(self) -> None:
        self._app.openapi()
        self._environment.preload()
        self._loop.run_until_complete(self._environment.reset())

    def after_restore(self) -> None:
        self._loop.run_until_complete(self._reconnect())
        reseed_random()
        forget_request_state()

    async def _reconnect(self) -> None:
        await self._environment.reset()
        await self._environment.warm()


def _runtime_registers() -> tuple[Register, Register] | None:
    try:
        import snapshot_restore_py  # noqa: PLC0415 - present only where SnapStart (or a test) provides it
    except ImportError:
        return None
    return snapshot_restore_py.register_before_snapshot, snapshot_restore_py.register_after_restore


def register_hooks(loop: asyncio.AbstractEventLoop, environment: Environment, app: Schema) -> SnapStartHooks | None:
    """Registers the hooks when the runtime offers SnapStart's registries; returns them, or None."""
    registers = _runtime_registers()
    if registers is None:
        return None
    hooks = SnapStartHooks(loop, environment, app)
    register_before, register_after = registers
    register_before(hooks.before_snapshot)
    register_after(hooks.after_restore)
    return hooks
