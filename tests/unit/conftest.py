"""Fixtures of the unit tests that drive the app over ASGI against a fake downstream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bff.composition import build_app
from bff.downstream.http import create_http_client
from tests.support.fake_downstream import FakeDownstream
from tests.support.settings import settings_for


@pytest.fixture
def fake() -> FakeDownstream:
    return FakeDownstream()


@pytest.fixture
async def client(fake: FakeDownstream) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the default settings (a 300 ms page deadline) over `fake`'s transport."""
    settings = settings_for(page_deadline_ms=300)
    app = build_app(settings, create_http_client(settings, transport=fake.transport()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
        yield client
