"""`make dev`'s local AWS: a moto server (DynamoDB and SSM), started from the app's virtualenv, with the template's
tables and the service registry of this local API, so that the BFF's cache and its service discovery run locally as
they do in AWS, with no account.

The registry holds `/product-bff/local/services/{name}/url` = this local API's URL for each service the BFF declares
(its mocks are routes of the same API). The BFF gets the path, the endpoints (botocore's AWS_ENDPOINT_URL_DYNAMODB
and AWS_ENDPOINT_URL_SSM), fake credentials and the tables' real names.

The server is supervised: when it exits on its own it is reaped, and restarted on the same port (refilled) with one
line on the console, or, when that fails or it keeps exiting, `make dev` stops with one line.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tools.local_aws import LOCAL_CREDENTIALS, create_tables, table_variables

REGISTRY_PATH = "/product-bff/local/services/"
START_TIMEOUT_S = 30.0
# A moto server that exits again this soon after a restart is not restarted again: `make dev` stops instead.
RESTART_WINDOW_S = 30.0
DEFAULT_REGION = "us-east-1"


class LocalAwsError(Exception):
    pass


def local_region(environ: Mapping[str, str]) -> str:
    """The region SAM gives the functions (and so the one their boto3 clients, and our resources, live in)."""
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


@dataclass(frozen=True)
class LocalAws:
    endpoint_url: str
    region: str
    tables: Mapping[str, str]  # logical id -> table name
    table_variables: Mapping[str, str]  # variable -> table name
    service_urls: Mapping[str, str]  # service -> URL, as registered

    def bff_environment(self) -> dict[str, str]:
        return {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint_url,
            "AWS_ENDPOINT_URL_SSM": self.endpoint_url,
            "SERVICE_REGISTRY_PATH": REGISTRY_PATH,
            # moto answers in 5-20 ms, against DynamoDB's single digits: the deployed 25 ms read timeout would make
            # the local shared cache miss on every other read.
            "CACHE_L2_TIMEOUT_MS": "250",
            "CACHE_L2_WRITE_TIMEOUT_MS": "250",
            **self.table_variables,
        }

    def summary(self) -> str:
        return (
            f"Local AWS (moto) on {self.endpoint_url}: tables {', '.join(sorted(self.tables.values())) or 'none'}, "
            f"{len(self.service_urls)} service URLs under {REGISTRY_PATH}"
        )


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def register_services(endpoint_url: str, region: str, urls: Mapping[str, str]) -> None:
    ssm = boto3.client(
        "ssm",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
    )
    for name, url in urls.items():
        ssm.put_parameter(Name=f"{REGISTRY_PATH}{name}/url", Value=url, Type="String", Overwrite=True)


class MotoServer:
    """One moto server process on a fixed port (the functions' environment names it), which can be started again
    after it exited; its stderr is kept for the line that says why."""

    def __init__(self, python: Path, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._command = [str(python), "-m", "moto.server", "-H", host, "-p", str(port)]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()
        self._closed = False
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start the process and wait until it answers; LocalAwsError when it does not, or when closed."""
        with self._lock:
            if self._closed:
                raise LocalAwsError("the local API is stopping")
            self._stderr.seek(0)
            self._stderr.truncate()
            # In a process group of its own: a terminal's Ctrl-C reaches the local API, which stops it, and not
            # the server itself, whose exit would look like a crash to the supervisor.
            self.process = subprocess.Popen(  # noqa: S603 - our own virtualenv's moto
                self._command, stdout=subprocess.DEVNULL, stderr=self._stderr, process_group=0
            )
        _wait_until_answering(self.process, self.host, self.port, self._stderr)

    def last_line(self) -> str:
        return _last_line(self._stderr)

    def close(self) -> None:
        """Stop the process (never started again) and reap it."""
        with self._lock:
            self._closed = True
            process = self.process
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._stderr.close()


class SupervisedServer(Protocol):
    """What the supervisor needs of a server (`MotoServer`)."""

    process: subprocess.Popen[bytes] | None

    @property
    def endpoint_url(self) -> str: ...

    def start(self) -> None: ...

    def last_line(self) -> str: ...

    def close(self) -> None: ...


class MotoSupervisor:
    """Watches the moto server from a thread. When it exits on its own, it is reaped at once (no zombie), one line
    says so, and it starts again on the same port with the tables and the registry (their items are gone). When it
    cannot start again, or exits again within RESTART_WINDOW_S of a restart, `give_up` gets one line instead."""

    def __init__(
        self,
        server: SupervisedServer,
        fill: Callable[[], object],
        *,
        say: Callable[[str], None],
        give_up: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server = server
        self._fill = fill
        self._say = say
        self._give_up = give_up
        self._clock = clock
        self._stopping = threading.Event()
        self._restarted_at: float | None = None
        self._thread = threading.Thread(target=self._watch, name="moto supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.close()
        if self._thread.ident is not None:
            self._thread.join(timeout=START_TIMEOUT_S)

    def _watch(self) -> None:
        while (process := self._server.process) is not None:
            exit_code = process.wait()  # reaps it
            if self._stopping.is_set():
                return
            exited = (
                f"local AWS (moto) on {self._server.endpoint_url} exited with {exit_code} ({self._server.last_line()})"
            )
            if self._restarted_at is not None and self._clock() - self._restarted_at < RESTART_WINDOW_S:
                self._give_up(f"{exited}, again within {RESTART_WINDOW_S:.0f} s of its restart; stopping")
                return
            self._say(f"{exited}; restarting it on the same port, with empty tables")
            try:
                self._server.start()
                self._fill()
            except (LocalAwsError, OSError, BotoCoreError, ClientError) as error:
                if not self._stopping.is_set():
                    self._give_up(f"{exited} and did not restart: {error}; stopping")
                return
            self._restarted_at = self._clock()
            self._say(f"local AWS (moto) restarted on {self._server.endpoint_url}")


@contextmanager
def running_local_aws(
    *,
    python: Path,
    host: str,
    template: Path,
    function: str,
    services: Iterable[str],
    api_url: str,
    region: str,
    say: Callable[[str], None] = lambda _: None,
    give_up: Callable[[str], None] = lambda _: None,
) -> Iterator[LocalAws]:
    """A moto server from `python` (the app's virtualenv, which has moto[server]) on a free port, filled and
    supervised (`MotoSupervisor`: `say` and `give_up` get its lines), until the block ends; LocalAwsError when it
    does not come up."""
    server = MotoServer(python, host, free_port(host))
    urls = dict.fromkeys(services, api_url)

    def fill() -> dict[str, str]:
        tables = create_tables(server.endpoint_url, template, region)
        register_services(server.endpoint_url, region, urls)
        return dict(tables)

    supervisor = MotoSupervisor(server, fill, say=say, give_up=give_up)
    try:
        server.start()
        tables = fill()
        variables = {name: tables[logical_id] for name, logical_id in table_variables(function, template).items()}
        supervisor.start()
        yield LocalAws(server.endpoint_url, region, tables, variables, urls)
    finally:
        supervisor.stop()


def _wait_until_answering(process: subprocess.Popen[bytes], host: str, port: int, stderr: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalAwsError(f"the moto server exited with {process.returncode}: {_last_line(stderr)}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise LocalAwsError(f"the moto server did not answer on {host}:{port} within {START_TIMEOUT_S:.0f} s")


def _last_line(stderr: IO[bytes]) -> str:
    stderr.seek(0)
    lines = stderr.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"
