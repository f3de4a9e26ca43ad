"""X-Ray tracing, only when tracing is on (in Lambda, POWERTOOLS_TRACE_DISABLED not true, a daemon address);
otherwise the X-Ray SDK is never imported, which keeps about 130 ms off the cold start.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, cast

from aws_lambda_powertools import Tracer

from bff.observability.logging import SERVICE_NAME, logger

type AnnotationValue = str | int | float | bool


def tracing_enabled(environ: Mapping[str, str]) -> bool:
    if environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    in_lambda = bool(environ.get("LAMBDA_TASK_ROOT")) and not environ.get("AWS_SAM_LOCAL")
    return in_lambda and bool(environ.get("AWS_XRAY_DAEMON_ADDRESS"))


def _tracer_from_environment() -> Tracer | None:
    if not tracing_enabled(os.environ):
        return None
    try:
        # auto_patch=False: the SDK's httpx/botocore patches open stack-based subsegments, which interleave
        # under a concurrent fan-out; downstream calls get explicit sibling subsegments instead.
        return Tracer(service=SERVICE_NAME, auto_patch=False)
    except ImportError:
        logger.warning("tracing is on but aws-xray-sdk is not installed; continuing without traces")
        return None


tracer = _tracer_from_environment()


class Span(Protocol):
    def put_annotation(self, key: str, value: AnnotationValue) -> None: ...


class _NoSpan:
    """A span that records nothing, and its own context manager: one shared instance, no generator per call."""

    def put_annotation(self, key: str, value: AnnotationValue) -> None:
        pass

    async def __aenter__(self) -> Span:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


_NO_SPAN = _NoSpan()


class Tracing:
    """Downstream spans as sibling X-Ray subsegments, or no-ops without a recorder.

    Not `recorder.in_subsegment_async`: in Lambda the SDK keeps open subsegments on one thread-local stack,
    so with calls running concurrently the second becomes the child of the first and whichever call ends
    first closes the other's subsegment. Each span here is attached to the entity that was current when it
    started, and closed by itself."""

    def __init__(self, recorder: Any | None) -> None:
        self._recorder = recorder

    def downstream_span(self, service: str) -> AbstractAsyncContextManager[Span]:
        if self._recorder is None:
            return _NO_SPAN
        return _sibling_subsegment(self._recorder, service)


@asynccontextmanager
async def _sibling_subsegment(recorder: Any, service: str) -> AsyncIterator[Span]:
    from aws_xray_sdk.core.models.subsegment import Subsegment  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: PLC0415

    parent = recorder.current_subsegment() or recorder.current_segment()
    if not getattr(parent, "sampled", False):
        yield _NO_SPAN
        return
    segment = getattr(parent, "parent_segment", parent)
    subsegment = Subsegment(f"## {service}", "remote", segment)
    parent.add_subsegment(subsegment)
    subsegment.put_annotation("service", service)
    try:
        yield cast(Span, subsegment)
    except BaseException as error:
        subsegment.add_exception(error, traceback.extract_tb(error.__traceback__), remote=True)
        raise
    finally:
        subsegment.close()
        recorder.stream_subsegments()


tracing = Tracing(tracer.provider if tracer is not None else None)
downstream_span = tracing.downstream_span
