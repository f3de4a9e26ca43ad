"""The mock service as a plain ASGI app: routing, latency, injected faults, logging and traffic counters."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Mapping

from mockkit.access_log import Outcome, log_request
from mockkit.asgi import Receive, Scope, Send
from mockkit.config import MockConfig
from mockkit.delivery import ResponseWriter, SimulatedConnectionReset, cut_off, send_whole, stream, trickle
from mockkit.disconnect import run_until_disconnect, wait_forever
from mockkit.faults import (
    Flaky,
    Hang,
    Huge,
    Malformed,
    Reset,
    ServerError,
    SlowBody,
    TooManyRequests,
    WrongShape,
)
from mockkit.payloads import Reply, inflated, json_reply, problem_reply, truncated
from mockkit.request import MockRequest, read_body
from mockkit.routes import Answer, Route, Spec
from mockkit.stats import TrafficStats

STATS_PATH = ("__mock", "stats")


class MockService:
    def __init__(self, spec: Spec, config: MockConfig) -> None:
        self.spec = spec
        self.config = config
        self.router = spec.router()
        self._stats = TrafficStats()
        # A test instrument: answered at once, without latency or faults, and not counted.
        self._stats_route = Route("/__mock/stats", {"GET": self._stats_answer})
        self._random = random.Random(config.seed)  # noqa: S311 - fault injection, not security
        self._calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        body = await read_body(receive)
        request = MockRequest.from_scope(scope, body)
        writer = ResponseWriter(send, request.correlation_id)
        if body is None:
            self._log(request, writer, "disconnect", started)
            return
        try:
            disconnected = await run_until_disconnect(self._route(request, writer), receive)
        except SimulatedConnectionReset:
            self._log(request, writer, "reset", started)
            raise
        self._log(request, writer, "disconnect" if disconnected else "response", started)

    async def _route(self, request: MockRequest, writer: ResponseWriter) -> None:
        route = self._stats_route if request.segments == STATS_PATH else self.router.match(request.segments)
        if route is None:
            await send_whole(writer, problem_reply(404, f"No route for {request.path}"))
        elif request.method not in route.handlers:
            await send_whole(writer, _method_not_allowed(request.method, route.allow))
        elif route is self._stats_route:
            await send_whole(writer, self._stats_answer(request).normal())
        else:
            answer = route.handlers[request.method](request)
            self._stats.record(request, f"{request.method} {route.template}", batch_size=answer.batch_size)
            self._stats.enter()
            try:
                await self._answer(answer, writer, behind_api_gateway=request.behind_api_gateway)
            finally:
                self._stats.leave()

    def _stats_answer(self, _: MockRequest) -> Answer:
        return Answer(normal=lambda: json_reply(200, self._stats.snapshot()), shape=dict)

    async def _answer(self, answer: Answer, writer: ResponseWriter, *, behind_api_gateway: bool) -> None:
        """One latency per call, however many ids it names. Faults that replace the answer (error, 429,
        malformed, ...) apply whatever the request, and skip its effects; faults about delivery (slow-body,
        reset) deliver the normal answer, a 4xx included, after its effects."""
        await asyncio.sleep(self.config.latency_ms / 1000)
        if self._random.random() < self.config.error_rate:
            await send_whole(writer, problem_reply(503, "Injected failure (MOCK_ERROR_RATE)"))
            return
        self._calls += 1
        match self.config.fault:
            case ServerError():
                await send_whole(writer, problem_reply(500, "Injected fault (MOCK_FAULT=error)"))
            case Hang():
                await wait_forever()
            case Malformed():
                await send_whole(writer, truncated(json_reply(200, answer.shape())))
            case WrongShape():
                await send_whole(writer, json_reply(200, {"unexpected": True}))
            case Flaky(failures=failures) if self._calls <= failures:
                detail = f"Injected fault (MOCK_FAULT=flaky:{failures}), call {self._calls}"
                await send_whole(writer, problem_reply(503, detail))
            case TooManyRequests(retry_after_s=retry_after_s):
                headers = (("retry-after", str(retry_after_s)),)
                await send_whole(writer, problem_reply(429, "Injected fault (MOCK_FAULT=429)", headers))
            case SlowBody(chunks=chunks, interval_s=interval_s):
                await trickle(writer, answer.normal(), chunks=chunks, interval_s=interval_s)
            case Huge(size_bytes=size_bytes, chunk_bytes=chunk_bytes):
                reply = json_reply(200, inflated(answer.shape(), size_bytes))
                await stream(writer, reply, chunk_bytes=chunk_bytes)
            case Reset() if behind_api_gateway:
                # API Gateway buffers the whole Lambda response: a broken connection cannot reach the caller.
                await send_whole(writer, problem_reply(500, "Injected fault (MOCK_FAULT=reset)"))
            case Reset():
                await cut_off(writer, answer.normal())
            case _:
                await send_whole(writer, answer.normal())

    def _log(self, request: MockRequest, writer: ResponseWriter, event: Outcome, started: float) -> None:
        duration_ms = (time.perf_counter() - started) * 1000
        log_request(self.spec.name, request, event=event, status=writer.status, duration_ms=duration_ms)


def _method_not_allowed(method: str, allow: str) -> Reply:
    return problem_reply(405, f"Method {method} is not allowed", (("allow", allow),))


def create_app(spec: Spec, environ: Mapping[str, str] | None = None) -> MockService:
    """The service configured from MOCK_* variables (default os.environ); bad values raise MockConfigError."""
    config = MockConfig.from_environ(
        os.environ if environ is None else environ, default_latency_ms=spec.default_latency_ms
    )
    return MockService(spec, config)
