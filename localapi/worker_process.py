"""The local API's side of the worker protocol: start one warm worker, send it events, enforce the timeout."""

import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from localapi import worker_main
from localapi.console import Console
from localapi.worker_main import ERROR, FRAME_HEADER, READY, RESULT, WARM_UP

RAW_CONSOLE = Console(verbose=True)
WORKER_SCRIPT = Path(worker_main.__file__).resolve()
# Lambda allows 10 s for the init phase; a busy laptop starting every worker at once needs more.
INIT_TIMEOUT_S = 30.0
STOP_GRACE_S = 1.0


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    code_dir: str
    memory_mb: int
    timeout_s: float
    environment: Mapping[str, str]


# Init errors that mean "bad settings", not broken code: their message names the variable, a traceback adds nothing.
CONFIGURATION_ERROR_TYPES = frozenset({"ConfigurationError", "MockConfigError"})


class WorkerInitError(Exception):
    """The worker could not import the handler; `error_document` is the Lambda-style error, if it sent one."""

    def __init__(self, function_name: str, error_document: str | None, reason: str = "") -> None:
        self.function_name = function_name
        self.error_document = error_document
        document = _parse_error_document(error_document)
        self.error_type = str(document.get("errorType", ""))
        self.error_message = str(document.get("errorMessage", ""))
        self.stack_trace = [str(frame) for frame in document.get("stackTrace", [])]
        cause = f"{self.error_type}: {self.error_message}" if document else f"worker failed to initialise {reason}"
        super().__init__(f"{function_name}: {cause}".rstrip())

    @property
    def is_configuration_error(self) -> bool:
        return self.error_type in CONFIGURATION_ERROR_TYPES

    def one_line(self) -> str:
        if self.is_configuration_error:
            return f"{self.function_name}: {self.error_message}"
        return str(self)

    def report(self) -> list[str]:
        """The one line, after the stack trace unless the cause is a bad setting."""
        trace = [] if self.is_configuration_error else [line.rstrip() for line in self.stack_trace]
        return [*trace, self.one_line()]


class Worker:
    """One worker process: one event at a time, like a Lambda execution environment."""

    def __init__(
        self,
        spec: FunctionSpec,
        process: subprocess.Popen[bytes],
        requests: int,
        responses: int,
        log_forwarder: threading.Thread,
    ) -> None:
        self.spec = spec
        self._process = process
        self._log_forwarder = log_forwarder
        self._requests = requests
        self._responses = responses
        self._alive = True
        self._pipes_open = True

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._alive and self._process.poll() is None

    def invoke(self, event_json: str) -> str | None:
        """The handler's JSON result or Lambda error document; None when the worker crashed or timed out."""
        deadline = time.monotonic() + self.spec.timeout_s
        deadline_epoch_ms = int((time.time() + self.spec.timeout_s) * 1000)
        try:
            _write_all(self._requests, worker_main.encode_invoke(str(uuid.uuid4()), deadline_epoch_ms, event_json))
        except BrokenPipeError:
            self._lost("exited before the invoke")
            return None
        match _read_frame(self._responses, deadline):
            case (kind, body) if kind in (RESULT, ERROR):
                return body.decode()
            case TimeoutError():
                self._lost(f"Task timed out after {self.spec.timeout_s:.2f} seconds")
            case _:
                self._lost("exited during the invoke")
        return None

    def warm_up(self, event_json: str) -> bool:
        """One invoke whose answer and output the worker drops; False when it did not come back in time."""
        deadline_epoch_ms = int((time.time() + self.spec.timeout_s) * 1000)
        frame = worker_main.encode_invoke("warm-up", deadline_epoch_ms, event_json)
        try:
            _write_all(self._requests, worker_main.encode_frame(WARM_UP, frame[FRAME_HEADER.size :]))
        except BrokenPipeError:
            return False
        match _read_frame(self._responses, time.monotonic() + self.spec.timeout_s):
            case (kind, _) if kind == READY:
                return True
            case _:
                self._lost("did not finish its warm-up invoke")
                return False

    def stop(self) -> None:
        """Ask an idle worker to exit (EOF on its request pipe), then kill it if it does not."""
        self._alive = False
        if not self._pipes_open:
            return
        os.close(self._requests)
        try:
            self._process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._responses)
        self._pipes_open = False
        self._log_forwarder.join(STOP_GRACE_S)

    def kill(self) -> None:
        """Kill a busy worker; the thread waiting on it sees end of file and cleans up."""
        self._process.kill()

    def _lost(self, reason: str) -> None:
        self._alive = False
        self._process.kill()
        exit_code = self._process.wait()
        if self._pipes_open:
            os.close(self._requests)
            os.close(self._responses)
            self._pipes_open = False
        self._log_forwarder.join(STOP_GRACE_S)
        sys.stderr.write(f"{self.spec.name}[{self.pid}] {reason}; worker discarded (exit code {exit_code})\n")


def start_worker(
    spec: FunctionSpec, python: str, console: Console | None = None, warm_up_event: str | None = None
) -> Worker:
    """Start a worker and wait for its handler to be imported (and for its warm-up invoke, given an event)."""
    request_read, request_write = os.pipe()
    response_read, response_write = os.pipe()
    try:
        process = _spawn(spec, python, request_read, response_write)
    except OSError as error:
        for fd in (request_read, request_write, response_read, response_write):
            os.close(fd)
        raise WorkerInitError(spec.name, None, f"({error})") from error
    os.close(request_read)
    os.close(response_write)
    assert process.stdout is not None
    log_forwarder = _forward_logs(process.stdout, f"{spec.name}[{process.pid}]", console or RAW_CONSOLE)
    worker = Worker(spec, process, request_write, response_read, log_forwarder)
    match _read_frame(response_read, time.monotonic() + INIT_TIMEOUT_S):
        case (kind, _) if kind == READY:
            if warm_up_event is not None and not worker.warm_up(warm_up_event):
                raise WorkerInitError(spec.name, None, "(its warm-up invoke failed)")
            return worker
        case (kind, body) if kind == ERROR:
            worker.stop()
            raise WorkerInitError(spec.name, body.decode())
        case TimeoutError():
            worker.stop()
            raise WorkerInitError(spec.name, None, f"(its handler was not imported within {INIT_TIMEOUT_S:.0f} s)")
        case _:
            worker.stop()
            raise WorkerInitError(spec.name, None, "(the worker exited)")


def _spawn(spec: FunctionSpec, python: str, request_read: int, response_write: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - the interpreter and script are ours, not user input
        [
            python,
            "-I",
            str(WORKER_SCRIPT),
            f"--request-fd={request_read}",
            f"--response-fd={response_write}",
            f"--parent-pid={os.getpid()}",
            f"--code-dir={spec.code_dir}",
            f"--handler={spec.handler}",
            f"--function-name={spec.name}",
            f"--memory-mb={spec.memory_mb}",
        ],
        pass_fds=(request_read, response_write),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_process_environment(spec),
        cwd=spec.code_dir,
    )


def _forward_logs(output: IO[bytes], prefix: str, console: Console) -> threading.Thread:
    def forward() -> None:
        with output:
            for line in output:
                console.function_output(prefix, line.decode(errors="replace").rstrip())

    forwarder = threading.Thread(target=forward, name=f"logs {prefix}", daemon=True)
    forwarder.start()
    return forwarder


def _read_frame(fd: int, deadline: float) -> tuple[int, bytes] | TimeoutError | None:
    """A frame, TimeoutError when the deadline passes first, None at end of file."""
    header = _read_exactly(fd, FRAME_HEADER.size, deadline)
    if not isinstance(header, bytes):
        return header
    kind, length = FRAME_HEADER.unpack(header)
    body = _read_exactly(fd, length, deadline)
    return (kind, body) if isinstance(body, bytes) else body


def _read_exactly(fd: int, size: int, deadline: float) -> bytes | TimeoutError | None:
    chunks = bytearray()
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while len(chunks) < size:
        remaining_ms = (deadline - time.monotonic()) * 1000
        if remaining_ms <= 0 or not poller.poll(remaining_ms):
            return TimeoutError()
        chunk = os.read(fd, size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _process_environment(spec: FunctionSpec) -> dict[str, str]:
    """What the Lambda Python runtime adds around the function's own variables."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": spec.code_dir,
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        **spec.environment,
    }


def _parse_error_document(error_document: str | None) -> dict[str, Any]:
    if not error_document:
        return {}
    try:
        document = json.loads(error_document)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
