from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture
def fresh_event_loop() -> Iterator[None]:
    """Mangum runs each invocation on the thread's current loop; an earlier async test may have closed it."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    loop.close()
    asyncio.set_event_loop(None)
