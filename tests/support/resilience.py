"""Driving the BFF app in process against real mock processes, and watching its resilience state change."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bff.composition import build_app
from bff.config.services import SERVICES
from bff.downstream.http import create_http_client
from bff.observability.logging import SERVICE_NAME
from tests.support.mock_processes import MockProcess, free_port, running_mock
from tests.support.settings import settings_for

NO_HEDGING: dict[str, object] = {f"{name}_hedge_delay_ms": 0 for name in SERVICES}


@asynccontextmanager
async def bff_client(urls: dict[str, str], **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a freshly built BFF app (fresh breakers, budgets and stale cache) calling `urls`."""
    config = settings_for(urls, **settings)
    async with create_http_client(config) as downstream:
        app = build_app(config, downstream)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
            yield client


def urls_with(reference_mocks: dict[str, MockProcess], **replacements: str) -> dict[str, str]:
    return {name: replacements.get(name, mock.base_url) for name, mock in reference_mocks.items()}


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.get(path)
    return response, time.perf_counter() - started


def requests_seen_by(mock: MockProcess) -> int:
    stats: dict[str, int] = httpx.get(f"{mock.base_url}/__mock/stats").json()
    return stats["requests"]


def connections_seen_by(mock: MockProcess) -> int:
    stats: dict[str, int] = httpx.get(f"{mock.base_url}/__mock/stats").json()
    return stats["connections"]


class _TransitionRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.transitions: list[tuple[str, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields: dict[str, Any] = record.__dict__
        if record.getMessage() == "circuit breaker state changed":
            self.transitions.append((fields["service"], fields["old_state"], fields["new_state"]))


@contextmanager
def breaker_transitions() -> Iterator[list[tuple[str, str, str]]]:
    """The (service, old, new) of every breaker transition the BFF logs while the block runs."""
    recorder = _TransitionRecorder()
    logger = logging.getLogger(SERVICE_NAME)
    logger.addHandler(recorder)
    try:
        yield recorder.transitions
    finally:
        logger.removeHandler(recorder)


@contextmanager
def mock_on_port(name: str, port: int, log_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[None]:
    """A mock process on a port the caller chose, so that a restarted mock keeps the URL the BFF was given."""
    with running_mock(name, log_dir, env, port=port):
        yield
