"""The local AWS's supervisor, with stand-in processes: a moto server that exits on its own is reaped at once (no
zombie), restarted and refilled with one line each; when it keeps exiting or cannot restart, `make dev` is told to
stop with one line; stopping the local API restarts nothing."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from localapi.local_aws import LocalAwsError, MotoSupervisor

WAIT_S = 10.0


class StandInServer:
    """Starts a sleeping Python process in place of moto; `refuse_restart` makes every later start fail."""

    endpoint_url = "http://127.0.0.1:1"

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.started: list[subprocess.Popen[bytes]] = []
        self.refuse_restart = False
        self.closed = False

    def start(self) -> None:
        if self.started and self.refuse_restart:
            raise LocalAwsError("port 1 is taken")
        self.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.started.append(self.process)

    def last_line(self) -> str:
        return "Killed"

    def close(self) -> None:
        self.closed = True
        if self.process is not None:
            self.process.kill()
            self.process.wait()


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()

    def __call__(self, line: str) -> None:
        with self.changed:
            self.lines.append(line)
            self.changed.notify_all()

    def wait_for(self, count: int) -> list[str]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.lines) >= count, WAIT_S), self.lines
            return list(self.lines)


@pytest.fixture
def server() -> Iterator[StandInServer]:
    stand_in = StandInServer()
    stand_in.start()
    yield stand_in
    for process in stand_in.started:
        process.kill()
        process.wait()


def is_reaped(process: subprocess.Popen[bytes]) -> bool:
    """Exited and waited for: no /proc entry left, zombie or not."""
    return process.returncode is not None and not Path(f"/proc/{process.pid}").exists()


def kill_current(server: StandInServer) -> subprocess.Popen[bytes]:
    assert server.process is not None
    process = server.process
    process.kill()
    return process


def test_a_server_that_exits_is_reaped_restarted_and_refilled(server: StandInServer) -> None:
    # Given a supervised server
    said, gave_up, fills = Recorder(), Recorder(), []
    supervisor = MotoSupervisor(server, lambda: fills.append(1), say=said, give_up=gave_up)
    supervisor.start()

    # When its process is killed
    first = kill_current(server)

    # Then one line says so, another that it restarted; the dead process is reaped, a new one runs, refilled
    lines = said.wait_for(2)
    supervisor.stop()
    assert lines[0] == (
        "local AWS (moto) on http://127.0.0.1:1 exited with -9 (Killed); restarting it on the same port, with empty "
        "tables"
    )
    assert lines[1] == "local AWS (moto) restarted on http://127.0.0.1:1"
    assert is_reaped(first)
    assert len(server.started) == 2
    assert fills == [1]
    assert gave_up.lines == []


def test_a_server_that_exits_again_soon_after_its_restart_stops_the_local_api(server: StandInServer) -> None:
    said, gave_up = Recorder(), Recorder()
    supervisor = MotoSupervisor(server, lambda: None, say=said, give_up=gave_up)
    supervisor.start()
    kill_current(server)
    said.wait_for(2)

    # When the restarted process exits as well, within the restart window
    second = kill_current(server)

    # Then the local API is told to stop, in one line, and nothing is restarted a second time
    [reason] = gave_up.wait_for(1)
    supervisor.stop()
    assert reason.startswith("local AWS (moto) on http://127.0.0.1:1 exited with -9 (Killed), again within 30 s")
    assert reason.endswith("; stopping")
    assert "\n" not in reason
    assert len(server.started) == 2
    assert is_reaped(second)


def test_a_server_that_cannot_restart_stops_the_local_api(server: StandInServer) -> None:
    said, gave_up = Recorder(), Recorder()
    server.refuse_restart = True
    supervisor = MotoSupervisor(server, lambda: None, say=said, give_up=gave_up)
    supervisor.start()

    dead = kill_current(server)

    [reason] = gave_up.wait_for(1)
    supervisor.stop()
    assert reason == (
        "local AWS (moto) on http://127.0.0.1:1 exited with -9 (Killed) and did not restart: port 1 is taken; stopping"
    )
    assert is_reaped(dead)


def test_stopping_the_local_api_restarts_nothing(server: StandInServer) -> None:
    said, gave_up = Recorder(), Recorder()
    supervisor = MotoSupervisor(server, lambda: None, say=said, give_up=gave_up)
    supervisor.start()

    supervisor.stop()

    assert server.closed
    assert (said.lines, gave_up.lines, len(server.started)) == ([], [], 1)
