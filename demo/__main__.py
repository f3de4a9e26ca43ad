"""`python -m demo`: serve the demo page on 127.0.0.1, another origin than the API it calls (as in production)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HOST = "127.0.0.1"
STATIC_DIR = Path(__file__).resolve().parent / "static"
USAGE_ERROR = 2


class DemoHandler(SimpleHTTPRequestHandler):
    """The static files, plus /config.js telling the page where the API is."""

    def __init__(self, *args: Any, api: str, **kwargs: Any) -> None:
        self.api = api
        super().__init__(*args, directory=str(STATIC_DIR), **kwargs)

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/config.js":
            self.send_config()
        else:
            super().do_GET()

    def send_config(self) -> None:
        body = f"window.DEMO_CONFIG = {json.dumps({'api': self.api})};\n".encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/javascript; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        # Edits to the page show on reload; the page only ever talks to itself and the API.
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", f"default-src 'self'; connect-src {self.api}")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"demo: {format % args}\n")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8900, help="port on 127.0.0.1 (default 8900)")
    parser.add_argument("--api", default="http://127.0.0.1:3000", help="base URL of the BFF (default: make dev's)")
    parser.add_argument(
        "--allowed-origins",
        help="the API's CORS_ALLOWED_ORIGINS, comma-separated, when known (make dev passes its own)",
    )
    arguments = parser.parse_args(argv)
    arguments.api = arguments.api.rstrip("/")
    if urlsplit(arguments.api).scheme not in {"http", "https"}:
        parser.error(f"--api must be an http(s) URL, not {arguments.api!r}")
    return arguments


def ready_line(origin: str, api: str, allowed_origins: str | None) -> str:
    """Where the demo is; and how to let it call the API, only when the API is not known to allow its origin."""
    ready = f"Demo ready on {origin}/ (API {api}"
    if allowed_origins is not None and origin in allowed_origins.split(","):
        return ready + ")"
    if allowed_origins is None:
        return ready + f"; the API must allow this origin: CORS_ALLOWED_ORIGINS={origin})"
    return ready + f", which does not allow this origin: add {origin} to CORS_ALLOWED_ORIGINS)"


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    handler = functools.partial(DemoHandler, api=arguments.api)
    try:
        server = ThreadingHTTPServer((HOST, arguments.port), handler)
    except OSError as error:
        sys.stderr.write(f"demo: cannot listen on {HOST}:{arguments.port}: {error.strerror}\n")
        return USAGE_ERROR
    origin = f"http://{HOST}:{server.server_port}"
    sys.stdout.write(ready_line(origin, arguments.api, arguments.allowed_origins) + "\n")
    sys.stdout.flush()
    with server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
