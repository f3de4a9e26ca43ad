"""AWS JSON endpoints (DynamoDB, SSM) on 127.0.0.1 that fail in one way and count what reached them: an error
status of the caller's choice, a 200 whose body is not the protocol's JSON, and a listener that accepts, reads and
never answers. The closed port and the delaying proxy are in tests.support.fault_servers."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager

from tests.support.fault_servers import LOOPBACK, AwsEndpoint, answering_endpoint, throttling_endpoint

FaultyEndpoint = AwsEndpoint


@contextmanager
def error_endpoint(status: int, error_code: str) -> Iterator[FaultyEndpoint]:
    """Every call answers `status` with the AWS JSON error `error_code` (e.g. 400 with
    ProvisionedThroughputExceededException or ThrottlingException, 500 with InternalServerError)."""
    with throttling_endpoint(error_code, status) as endpoint:
        yield endpoint


@contextmanager
def malformed_endpoint() -> Iterator[FaultyEndpoint]:
    """Every call answers 200 with a body that is not JSON (a proxy's HTML page, a truncated answer)."""
    with answering_endpoint(200, b"<html>upstream says hello", content_type="text/html") as endpoint:
        yield endpoint


@contextmanager
def silent_endpoint() -> Iterator[FaultyEndpoint]:
    """Accepts every connection (the request waits in its buffer) and never answers; counts the connections."""
    with closing(socket.socket()) as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(64)
        listener.settimeout(0.05)
        endpoint = FaultyEndpoint(f"http://{LOOPBACK}:{listener.getsockname()[1]}")
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                endpoint.connections += 1
                accepted.append(connection)

        thread = threading.Thread(target=accept, name="silent-endpoint", daemon=True)
        thread.start()
        try:
            yield endpoint
        finally:
            stop.set()
            thread.join()
            for connection in accepted:
                with contextlib.suppress(OSError):
                    connection.close()
