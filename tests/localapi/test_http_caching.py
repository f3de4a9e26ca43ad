"""HTTP caching through the local API (`make dev`): a 304 round trip, and what `curl --compressed` gets."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.support.local_api import LOOPBACK, LocalApi, running_local_api

pytestmark = pytest.mark.localapi

LONG_DESCRIPTION = "A gadget that does everything a gadget should, and then some more. " * 40


class _LongProductHandler(BaseHTTPRequestHandler):
    """A product service whose products have long descriptions: their pages pass 1 KiB."""

    def do_GET(self) -> None:
        product_id = self.path.rsplit("/", 1)[-1]
        body = json.dumps(
            {"id": product_id, "name": f"Gadget {product_id}", "description": LONG_DESCRIPTION, "price": 1}
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def long_product_service() -> Iterator[str]:
    server = ThreadingHTTPServer((LOOPBACK, 0), _LongProductHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def caching_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    """The local API, its BFF calling a product service of long descriptions, reviews and stock from the mocks."""
    with (
        long_product_service() as product_url,
        running_local_api(
            Path(tmp_path_factory.mktemp("caching")),
            {
                "PRODUCT_SERVICE_URL": product_url,
                "PAGE_CACHE_MAX_AGE_S": "60",
                # Every page a fresh miss, its sections fresh for longer than the page's bound: max-age stays 60.
                "CACHE_L1_MAX_ENTRIES": "0",
                "CACHE_TABLE_NAME": "",
                "REVIEWS_CACHE_TTL_S": "300",
                "INVENTORY_CACHE_TTL_S": "300",
            },
        ) as api,
    ):
        yield api


def test_a_304_round_trip_through_the_local_api(caching_api: LocalApi) -> None:
    url = f"{caching_api.base_url}/product-details/P001"
    with httpx.Client(timeout=10) as client:
        # Given a page fetched once
        first = client.get(url)
        # When it is asked for again with its tag
        again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    # Then the local API answers 304 with no body, the same ETag and Cache-Control
    assert first.status_code == 200
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == first.headers["cache-control"] == "public, max-age=60"


def test_curl_compressed_gets_the_page_gzipped(caching_api: LocalApi) -> None:
    url = f"{caching_api.base_url}/product-details/P001"
    with httpx.Client(timeout=10) as client:
        # Given what `curl --compressed` sends, and a plain request
        with client.stream("GET", url, headers={"Accept-Encoding": "deflate, gzip"}) as compressed:
            raw = b"".join(compressed.iter_raw())
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
    # Then the gzip bytes (API Gateway's emulation decoded Mangum's base64) are the page's JSON
    assert compressed.status_code == 200
    assert compressed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in compressed.headers["vary"]
    assert json.loads(gzip.decompress(raw)) == plain.json()
    assert plain.json()["product"]["description"] == LONG_DESCRIPTION
    assert "content-encoding" not in plain.headers
    assert len(raw) < len(plain.content) // 2
