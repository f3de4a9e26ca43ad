import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from bench.loadgen import MAX_CLIENTS, LoadLimitError, LoadPlan, run_load


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8080/", "http://10.0.0.1/", "https://127.0.0.1/", "http://127.0.0.2/", "http://example.com/"],
)
def test_refuses_any_target_but_loopback_127_0_0_1(url: str) -> None:
    with pytest.raises(LoadLimitError, match=r"127\.0\.0\.1"):
        LoadPlan(url, clients=1, duration_s=1)


@pytest.mark.parametrize(
    ("clients", "duration_s", "max_requests"),
    [(0, 1, 10), (MAX_CLIENTS + 1, 1, 10), (1, 0, 10), (1, 31, 10), (1, 1, 0), (1, 1, 200_001)],
)
def test_refuses_load_beyond_hard_caps(clients: int, duration_s: float, max_requests: int) -> None:
    with pytest.raises(LoadLimitError):
        LoadPlan("http://127.0.0.1:1/", clients=clients, duration_s=duration_s, max_requests=max_requests)


class _Teapot(BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Teapot.paths.append(self.path)
        status = 200 if self.path == "/ok" or self.path.startswith("/ok/") else 418
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Teapot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.integration
def test_counts_requests_and_stops_at_the_request_cap(local_server: str) -> None:
    # Given a plan capped at 25 requests over a generous duration
    plan = LoadPlan(f"{local_server}/ok", clients=4, duration_s=10, max_requests=25, warmup_s=0)

    # When the generator runs
    report = asyncio.run(run_load(plan))

    # Then it stops at the cap (each of the 4 clients may finish its in-flight request) with all 200s
    assert 25 <= report["requests"] <= 25 + 3
    assert report["statuses"] == {"200": report["requests"]}
    assert report["error_count"] == 0
    assert len(report["latencies_ms"]) == report["requests"]
    assert report["latency"]["p50_ms"] > 0


@pytest.mark.integration
def test_non_2xx_answers_count_as_errors(local_server: str) -> None:
    plan = LoadPlan(f"{local_server}/teapot", clients=1, duration_s=5, max_requests=5, warmup_s=0)

    report = asyncio.run(run_load(plan))

    assert report["statuses"] == {"418": 5}
    assert report["error_count"] == 5


@pytest.mark.integration
def test_connection_failures_are_recorded_not_raised() -> None:
    # Given a port nothing listens on (port 9, discard, is closed on this machine)
    plan = LoadPlan("http://127.0.0.1:9/", clients=1, duration_s=5, max_requests=3, warmup_s=0)

    report = asyncio.run(run_load(plan))

    assert report["errors"] == {"ClientConnectorError": 3}
    assert report["error_count"] == 3


@pytest.mark.integration
def test_each_request_gets_a_number_of_its_own(local_server: str) -> None:
    # Given a URL with the request-number placeholder, as the load case asks for pages
    _Teapot.paths.clear()
    plan = LoadPlan(f"{local_server}/ok/{{n}}", clients=2, duration_s=5, max_requests=6, warmup_s=0)
    # When the generator runs
    report = asyncio.run(run_load(plan))
    # Then every request asked for another path: a BFF's cache cannot answer any of them
    assert report["statuses"] == {"200": report["requests"]}
    assert len(set(_Teapot.paths)) == len(_Teapot.paths) == report["requests"]
    assert all(path.removeprefix("/ok/").isdigit() for path in _Teapot.paths)
