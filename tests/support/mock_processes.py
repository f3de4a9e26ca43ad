"""Real mock-service processes for integration tests: start on a free loopback port, wait, read logs, stop.

Use `running_mock(...)` as a context manager, or the `mock_service_factory` fixture
(register it with `pytest_plugins = ("tests.support.mock_processes",)` in the root conftest.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

MOCKS_DIR = Path(__file__).resolve().parents[2] / "mocks"
LOOPBACK = "127.0.0.1"

type LogLine = dict[str, Any]


class MockStartupError(RuntimeError):
    """The mock process exited or never accepted connections; the message carries its stderr."""


@dataclass(frozen=True)
class MockProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def log_lines(self) -> list[LogLine]:
        """The JSON lines the mock wrote so far (one per request); anything else on stdout is skipped."""
        return [
            json.loads(line)
            for line in self.stdout_path.read_text().splitlines()
            if line.startswith("{") and line.endswith("}")
        ]

    def wait_for_log_line(self, matches: Callable[[LogLine], bool], timeout_s: float = 3.0) -> LogLine:
        """The first log line that matches; a mock logs after responding, so the line may lag the response."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = next((line for line in self.log_lines() if matches(line)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching log line from {self.name} within {timeout_s}s: {self.log_lines()}")
            time.sleep(0.02)

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_mock(
    name: str,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
    startup_timeout_s: float = 10.0,
    stop_timeout_s: float = 5.0,
) -> Iterator[MockProcess]:
    """Run `python -m mockkit serve NAME` with only the given MOCK_* variables until the block ends, on `port`
    (a restarted mock keeps the URL the BFF was given) or a free one."""
    log_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    stdout_path, stderr_path = log_dir / f"{name}-{port}.stdout", log_dir / f"{name}-{port}.stderr"
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("MOCK_")}
    python_path = os.pathsep.join(filter(None, [str(MOCKS_DIR), os.environ.get("PYTHONPATH")]))
    # Files rather than pipes: a pipe nobody reads fills up and blocks a busy mock mid-test.
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "mockkit", "serve", name, "--host", LOOPBACK, "--port", str(port)],
            cwd=MOCKS_DIR,
            env={**inherited, "PYTHONPATH": python_path, **(env or {})},
            stdout=stdout,
            stderr=stderr,
        )
    mock = MockProcess(name, port, process, stdout_path, stderr_path)
    try:
        _wait_until_accepting(mock, startup_timeout_s)
        yield mock
    finally:
        stop_process(process, stop_timeout_s)


def _wait_until_accepting(mock: MockProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if mock.process.poll() is not None:
            raise MockStartupError(
                f"mock {mock.name} exited with {mock.process.returncode} before accepting connections:\n"
                f"{mock.stderr_text()}"
            )
        try:
            with socket.create_connection((LOOPBACK, mock.port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise MockStartupError(
                    f"mock {mock.name} did not accept connections on port {mock.port} within {timeout_s}s:\n"
                    f"{mock.stderr_text()}"
                ) from None
            time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout_s`; reaped either way."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


type MockServiceFactory = Callable[..., MockProcess]


@pytest.fixture
def mock_service_factory(tmp_path: Path) -> Iterator[MockServiceFactory]:
    """`start(name, **env)` runs a mock with those MOCK_* variables; all are stopped after the test.

    Example: `product = mock_service_factory("product", MOCK_FAULT="hang")`, then call `product.base_url`.
    """
    with ExitStack() as running:

        def start(name: str, **env: str) -> MockProcess:
            return running.enter_context(running_mock(name, tmp_path / "mocks", env))

        yield start
