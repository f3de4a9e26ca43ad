"""A warm Lambda-like worker: imports one handler, then answers one event at a time on its main thread.

Runs under the *app* interpreter (stdlib only), executed by file path with `python -I`, so nothing from the
local API's own environment leaks onto the function's sys.path. Events and responses travel over two
dedicated pipes (never stdout/stderr, which belong to the function's own logs) as frames:
a one-byte kind, a four-byte big-endian length, then the body.
"""

import argparse
import importlib
import io
import json
import os
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

FRAME_HEADER = struct.Struct(">BI")
READY = 1
INVOKE = 2
RESULT = 3
ERROR = 4
WARM_UP = 5

ACCOUNT_ID = "123456789012"
PARENT_POLL_INTERVAL_S = 0.5

type Handler = Callable[[Any, "LambdaContext"], Any]


def encode_frame(kind: int, body: bytes) -> bytes:
    return FRAME_HEADER.pack(kind, len(body)) + body


def encode_invoke(request_id: str, deadline_epoch_ms: int, event_json: str) -> bytes:
    header = json.dumps({"requestId": request_id, "deadlineMs": deadline_epoch_ms})
    return encode_frame(INVOKE, f"{header}\n{event_json}".encode())


def error_document(error: BaseException, error_type: str | None = None) -> bytes:
    return json.dumps(
        {
            "errorMessage": str(error),
            "errorType": error_type or type(error).__name__,
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
    ).encode()


@dataclass
class LambdaContext:
    """The attributes and method of the context object the AWS Python runtime passes to a handler."""

    function_name: str
    memory_limit_in_mb: int
    aws_request_id: str
    deadline_epoch_ms: int
    invoked_function_arn: str
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None
    _clock: Callable[[], float] = field(default=time.time, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_epoch_ms - int(self._clock() * 1000))


def load_handler(handler_path: str) -> Handler:
    module_name, _, function_name = handler_path.replace("/", ".").rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), function_name)
    return handler


def init_error_type(error: BaseException) -> str:
    """As the Lambda Python runtime reports init failures: its own types for import and syntax errors, else the
    exception's class name (e.g. ConfigurationError), so the local API can tell bad settings from broken code."""
    if isinstance(error, (ImportError, AttributeError)):
        return "Runtime.ImportModuleError"
    if isinstance(error, SyntaxError):
        return "Runtime.UserCodeSyntaxError"
    return type(error).__name__


def make_context(arguments: argparse.Namespace, request_id: str, deadline_epoch_ms: int) -> LambdaContext:
    region = os.environ.get("AWS_REGION", "us-east-1")
    return LambdaContext(
        function_name=arguments.function_name,
        memory_limit_in_mb=arguments.memory_mb,
        aws_request_id=request_id,
        deadline_epoch_ms=deadline_epoch_ms,
        invoked_function_arn=f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{arguments.function_name}",
        log_group_name=os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{arguments.function_name}"),
        log_stream_name=os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "$LATEST"),
    )


def read_frame(stream: BinaryIO) -> tuple[int, bytes] | None:
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    kind, length = FRAME_HEADER.unpack(header)
    body = stream.read(length)
    return None if len(body) < length else (kind, body)


def send(stream: BinaryIO, frame: bytes) -> None:
    stream.write(frame)
    stream.flush()


def invoke_once(handler: Handler, body: bytes, arguments: argparse.Namespace) -> bytes:
    header_json, _, event_json = body.partition(b"\n")
    header = json.loads(header_json)
    context = make_context(arguments, header["requestId"], header["deadlineMs"])
    try:
        result = handler(json.loads(event_json), context)
    except Exception as error:
        traceback.print_exc()
        return encode_frame(ERROR, error_document(error))
    try:
        return encode_frame(RESULT, json.dumps(result).encode())
    except (TypeError, ValueError) as error:
        return encode_frame(ERROR, error_document(error, "Runtime.MarshalError"))


def warm_up(handler: Handler, body: bytes, arguments: argparse.Namespace) -> bytes:
    """One invoke whose answer and output are dropped: what a first request pays beyond the import (first event
    loop run, lazily built routes and models) is paid before the local API says ready."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        invoke_once(handler, body, arguments)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
    return encode_frame(READY, b"")


def exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_INTERVAL_S)
    os._exit(1)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--request-fd", type=int, required=True)
    parser.add_argument("--response-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--code-dir", required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--function-name", required=True)
    parser.add_argument("--memory-mb", type=int, required=True)
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    # Ctrl-C in the terminal reaches the whole process group; the local API decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=exit_when_orphaned, args=(arguments.parent_pid,), daemon=True).start()
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    sys.path.insert(0, arguments.code_dir)

    requests = os.fdopen(arguments.request_fd, "rb")
    responses = os.fdopen(arguments.response_fd, "wb")
    try:
        handler = load_handler(arguments.handler)
    except Exception as error:
        # No traceback here: the error document carries it, and the local API decides what to show.
        send(responses, encode_frame(ERROR, error_document(error, init_error_type(error))))
        sys.exit(1)
    send(responses, encode_frame(READY, b""))

    while (frame := read_frame(requests)) is not None:
        kind, body = frame
        if kind == INVOKE:
            send(responses, invoke_once(handler, body, arguments))
        elif kind == WARM_UP:
            send(responses, warm_up(handler, body, arguments))


if __name__ == "__main__":
    main()
