"""A real redis-server on a free loopback port, without persistence; in CI a missing binary fails the test.

Register it with `pytest_plugins = ("tests.support.redis_server",)`, or use `running_redis_server()` directly.
`make redis` installs the Debian package.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.mock_processes import free_port, stop_process
from tests.support.tooling import skip_locally_fail_in_ci

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def command(self, *args: str) -> bytes:
        """One command over a plain socket (RESP), for checks that must bypass the code under test."""
        request = f"*{len(args)}\r\n".encode() + b"".join(f"${len(arg.encode())}\r\n{arg}\r\n".encode() for arg in args)
        with socket.create_connection((LOOPBACK, self.port), timeout=2) as connection:
            connection.sendall(request)
            return connection.recv(1 << 16)


def require_redis_server() -> str:
    found = shutil.which("redis-server")
    if not found:
        skip_locally_fail_in_ci("redis-server is missing: run `make redis` (apt-get install redis-server)")
    return found


@contextmanager
def running_redis_server(binary: str, work_dir: Path, start_timeout_s: float = 10.0) -> Iterator[RedisServer]:
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no", "--dir", str(work_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = RedisServer(port, process)
    try:
        _wait_until_ready(server, start_timeout_s)
        yield server
    finally:
        stop_process(process, timeout_s=5)
        if process.stderr is not None:
            process.stderr.close()


def _wait_until_ready(server: RedisServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if server.process.poll() is not None:
            stderr = server.process.stderr.read().decode(errors="replace") if server.process.stderr else ""
            raise RuntimeError(f"redis-server exited with {server.process.returncode}: {stderr}")
        try:
            if server.command("PING").startswith(b"+PONG"):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not answer PING within {timeout_s}s")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session."""
    with running_redis_server(require_redis_server(), tmp_path_factory.mktemp("redis")) as server:
        yield server
