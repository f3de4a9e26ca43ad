"""Driving the BFF app in process against real mock processes, and watching its resilience state change."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bff.composition import build_app
from bff.downstream.http import create_http_client
from bff.observability.logging import SERVICE_NAME
from tests.support.mock_processes import LOOPBACK, MOCKS_DIR, MockProcess, free_port
from tests.support.settings import settings_for

NO_HEDGING: dict[str, object] = {
    "product_hedge_delay_ms": 0,
    "review_hedge_delay_ms": 0,
    "inventory_hedge_delay_ms": 0,
}


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
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("MOCK_")}
    python_path = os.pathsep.join(filter(None, [str(MOCKS_DIR), os.environ.get("PYTHONPATH")]))
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{name}-{port}.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mockkit", "serve", name, "--host", LOOPBACK, "--port", str(port)],
            cwd=MOCKS_DIR,
            env={**inherited, "PYTHONPATH": python_path, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_accepting(process, port)
        yield
    finally:
        process.terminate()
        process.wait(timeout=5)


def _wait_until_accepting(process: subprocess.Popen[bytes], port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mock on port {port} did not start (exit code {process.poll()})")
