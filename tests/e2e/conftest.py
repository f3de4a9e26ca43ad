"""The end-to-end suite runs against BFF_URL (e.g. the deployed API's URL) or, by default, a local API it starts."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.support.local_api import running_local_api


@pytest.fixture(scope="session")
def bff_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("BFF_URL", "").rstrip("/")
    if configured:
        yield configured
        return
    with running_local_api(tmp_path_factory.mktemp("e2e-local-api")) as api:
        yield api.base_url


@pytest.fixture(scope="session")
def bff(bff_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bff_url, timeout=10, follow_redirects=False) as client:
        yield client
