"""`make dev` serves the demo frontend on its own port, and lets that origin call the BFF."""

from __future__ import annotations

import httpx
import pytest

from tests.support.local_api import running_local_api
from tests.support.mock_processes import free_port

pytestmark = pytest.mark.localapi


def test_the_demo_page_is_served_and_its_origin_may_call_the_bff(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Given the local API started with a demo port and no CORS origins of its own
    demo_port = free_port()
    origin = f"http://127.0.0.1:{demo_port}"
    with running_local_api(tmp_path_factory.mktemp("demo"), {"DEMO_PORT": str(demo_port)}) as api:
        # When the browser loads the demo page, then calls the BFF from that origin
        page = httpx.get(f"{origin}/", timeout=10)
        config = httpx.get(f"{origin}/config.js", timeout=10)
        preflight = httpx.options(
            f"{api.base_url}/product-details/P001",
            headers={
                "origin": origin,
                "access-control-request-method": "GET",
                "access-control-request-headers": "x-correlation-id",
            },
            timeout=10,
        )

    # Then the page and its API address are served, and the preflight lets the demo origin in
    assert page.status_code == 200
    assert "<html" in page.text.lower()
    assert f"http://127.0.0.1:{api.port}" in config.text
    assert preflight.headers.get("access-control-allow-origin") == origin
    assert f"Demo page on {origin}/?id=P001" in api.stdout()
    # and the demo's ready line, knowing make dev lets its origin in, asks the reader to set nothing
    assert f"Demo ready on {origin}/ (API http://127.0.0.1:{api.port})" in api.stdout()
    assert "CORS_ALLOWED_ORIGINS" not in api.stdout()
