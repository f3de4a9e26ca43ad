"""Idempotent writes with Powertools' idempotency utility on DynamoDB, without blocking the event loop.

One write = one record, keyed by (user, Idempotency-Key) and validated against the request body:
- first time: the record is saved IN_PROGRESS (one conditional PutItem), the write runs, and its answer
  (status and body) is saved; a write that raises (a failed downstream write, a 5xx) deletes the record, so a
  retry runs it again;
- the same key and body again: the saved answer comes back, marked replayed, and nothing runs;
- the same key with another body: 422; the same key while the first still runs: 409.

Threading. Powertools is synchronous and calls DynamoDB with boto3, which blocks. The whole idempotent call
runs in a worker thread (`asyncio.to_thread`); the write itself is a coroutine of the BFF's loop, which the
worker hands back to the loop with `asyncio.run_coroutine_threadsafe` and waits for. So the loop keeps serving
other work during every DynamoDB call, and the async HTTP client is only ever used on its own loop.

Deadlines. The store's client has explicit connect and read timeouts and no retries of its own (botocore's
defaults retry for tens of seconds). Retries are ours, with the HTTP calls' policy (attempts, backoff) and a
breaker and retry budget of the store's own, and only while the write has not run: a store that fails before the
write (refused, hung, throttled, 5xx, malformed) is asked again while a whole attempt (connect + read timeout)
still fits in the request's deadline, then the answer is 503 with Retry-After. An open breaker answers 503 at
once. A store that fails after the write ran (saving its answer) is not asked again: the answer is 503, the key
stays in progress until the invocation's time is up, and a retry with the same key then runs the write again,
which the cart service applies once (it gets the same Idempotency-Key).
"""

from __future__ import annotations

import asyncio
import importlib
import math
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from bff.config.aws_clients import AwsCallLimits, bounded_client
from bff.core.deadline import Deadline
from bff.core.outcomes import JsonValue
from bff.errors import IdempotencyInProgressError, IdempotencyKeyReusedError, IdempotencyUnavailableError
from bff.observability.tracing import NO_TRACING, Tracing
from bff.resilience.guard import DownstreamGuard, RetryPolicy

type Write = Callable[[], Coroutine[Any, Any, dict[str, Any]]]
"""Answers {"status": int, "body": JSON text}."""

REPLAYED_MARK = "__replayed"
STORE_SERVICE = "idempotency_store"
"""The store's name in its breaker's transitions and in logs."""


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """How long one call to the store may take, and how often a failed one is made again."""

    call: AwsCallLimits
    retry_policy: RetryPolicy


class StoreFailedError(Exception):
    """The store failed; `write_ran` says whether the write had started, so asking again could repeat it."""

    def __init__(self, *, write_ran: bool) -> None:
        super().__init__("idempotency store failed")
        self.write_ran = write_ran


@dataclass(frozen=True, slots=True)
class WriteAnswer:
    status: int
    body: str
    """The answer's JSON text, byte for byte as first sent."""
    replayed: bool


def preload_idempotency() -> None:
    """Imports Powertools' idempotency utility (and boto3 under it) now, e.g. before a SnapStart snapshot, instead
    of at the first write; builds nothing, so no client holds the credentials of the snapshot."""
    importlib.import_module("aws_lambda_powertools.utilities.idempotency")


class IdempotentWrites:
    """Runs writes at most once per (user, key) within `expires_after_s`; the store is built on first use."""

    def __init__(
        self,
        table_name: str,
        *,
        expires_after_s: int,
        limits: StoreLimits,
        guard: DownstreamGuard,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        """Each call to the store is a CLIENT span of `tracing` when tracing is on."""
        self._table_name = table_name
        self._tracing = tracing
        self._expires_after_s = expires_after_s
        self._limits = limits
        self._guard = guard
        self._lock = threading.Lock()
        self._config: Any = None
        self._idempotent: Callable[..., dict[str, Any]] | None = None

    async def run(
        self,
        *,
        user: str,
        key: str,
        body: Mapping[str, JsonValue],
        write: Write,
        lambda_context: Any,
        deadline: Deadline,
    ) -> WriteAnswer:
        """`write` returns {"status", "body"} to save (body as JSON text); an exception it raises leaves nothing
        saved. The store is asked while the write has not run and a whole attempt fits in `deadline`."""
        breaker, budget = self._guard.breaker, self._guard.budget
        if not breaker.allow():
            raise _unavailable(breaker.retry_after_s())
        request = {"user": user, "key": key, "body": body}
        retry = 0
        while True:
            try:
                answer = await self._attempt(request, write, lambda_context)
            except StoreFailedError as failed:
                breaker.record_failure()
                budget.record_failure()
                delay_s = self._limits.retry_policy.backoff.delay_s(retry, None)
                retry += 1
                if (
                    failed.write_ran
                    or retry >= self._limits.retry_policy.max_attempts
                    or not budget.allows_retry()
                    or not breaker.allow()
                    or delay_s + self._limits.call.attempt_s > deadline.remaining_s()
                ):
                    raise _unavailable(breaker.retry_after_s()) from None
                await asyncio.sleep(delay_s)
                continue
            except Exception:
                breaker.record_success()  # the store answered: a reused or busy key, or the write's own failure
                raise
            except BaseException:
                breaker.record_abandoned()
                raise
            breaker.record_success()
            budget.record_success()
            replayed = bool(answer.pop(REPLAYED_MARK, False))
            return WriteAnswer(int(answer["status"]), str(answer["body"]), replayed)

    async def _attempt(self, request: dict[str, Any], write: Write, lambda_context: Any) -> dict[str, Any]:
        """One idempotent call in a worker thread; the write runs on this loop when the thread asks for it."""
        loop = asyncio.get_running_loop()
        ran = threading.Event()

        def run_write_on_loop() -> dict[str, Any]:
            ran.set()
            return asyncio.run_coroutine_threadsafe(write(), loop).result()

        try:
            return await asyncio.to_thread(self._call, request, run_write_on_loop, lambda_context)
        except StoreFailedError:
            raise StoreFailedError(write_ran=ran.is_set()) from None

    def _call(self, request: dict[str, Any], run: Callable[[], dict[str, Any]], lambda_context: Any) -> dict[str, Any]:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415 - only writes need it
            IdempotencyAlreadyInProgressError,
            IdempotencyInconsistentStateError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        idempotent = self._ready()
        if lambda_context is not None:
            # The in-progress record then expires with this invocation, not after expires_after_s.
            self._config.register_lambda_context(lambda_context)
        try:
            return dict(idempotent(request=request, run=run))
        except IdempotencyValidationError:
            raise IdempotencyKeyReusedError("This Idempotency-Key was used with another request body.") from None
        except (IdempotencyAlreadyInProgressError, IdempotencyInconsistentStateError):
            raise IdempotencyInProgressError("A request with this Idempotency-Key is still being processed.") from None
        except IdempotencyPersistenceLayerError:
            raise StoreFailedError(write_ran=False) from None  # the caller knows whether it ran

    def _ready(self) -> Callable[..., dict[str, Any]]:
        """Powertools and its boto3 client load on the first write (in the worker thread), not at cold start."""
        with self._lock:
            if self._idempotent is None:
                from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
                    DynamoDBPersistenceLayer,
                    IdempotencyConfig,
                    idempotent_function,
                )

                self._config = IdempotencyConfig(
                    # The key is scoped to the user: the same key from two users is two records.
                    event_key_jmespath="[user, key]",
                    payload_validation_jmespath="body",
                    raise_on_no_idempotency_key=True,
                    expires_after_seconds=self._expires_after_s,
                    response_hook=_mark_replayed,  # type: ignore[arg-type]
                )
                self._idempotent = idempotent_function(
                    data_keyword_argument="request",
                    persistence_store=DynamoDBPersistenceLayer(
                        table_name=self._table_name,
                        boto3_client=bounded_client("dynamodb", self._limits.call, self._tracing),
                    ),
                    config=self._config,
                )(add_cart_item)
            return self._idempotent


def _unavailable(retry_after_s: float) -> IdempotencyUnavailableError:
    return IdempotencyUnavailableError(
        "The request cannot be made safe to retry now; retry later.", retry_after_s=max(math.ceil(retry_after_s), 1)
    )


def add_cart_item(request: dict[str, Any], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The idempotent unit; its module and name prefix every record's key, so it keeps this name."""
    del request  # hashed and validated by Powertools; the write itself is bound into `run`
    return run()


def _mark_replayed(response: Any, record: Any) -> Any:
    del record
    return {**response, REPLAYED_MARK: True} if isinstance(response, dict) else response
