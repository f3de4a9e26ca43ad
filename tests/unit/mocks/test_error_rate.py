from __future__ import annotations

import pytest

import inventory_service
from tests.unit.mocks.asgi_support import client_for, mock_app

pytestmark = pytest.mark.anyio


async def statuses(calls: int, **env: str) -> list[int]:
    async with client_for(mock_app(inventory_service.SPEC, **env)) as client:
        return [(await client.get("/inventory/P001")).status_code for _ in range(calls)]


async def test_the_same_seed_fails_the_same_requests() -> None:
    # Given two mocks failing half of their requests, seeded alike
    first = await statuses(40, MOCK_ERROR_RATE="0.5", MOCK_SEED="7")
    second = await statuses(40, MOCK_ERROR_RATE="0.5", MOCK_SEED="7")

    # Then they fail exactly the same requests, and some of each kind
    assert first == second
    assert set(first) == {200, 503}


async def test_another_seed_fails_other_requests() -> None:
    assert await statuses(40, MOCK_ERROR_RATE="0.5", MOCK_SEED="7") != await statuses(
        40, MOCK_ERROR_RATE="0.5", MOCK_SEED="8"
    )


@pytest.mark.parametrize(("rate", "expected"), [("0", {200}), ("1", {503})])
async def test_rates_zero_and_one_are_absolute(rate: str, expected: set[int]) -> None:
    assert set(await statuses(20, MOCK_ERROR_RATE=rate)) == expected


async def test_the_rate_roughly_holds_over_many_requests() -> None:
    failures = (await statuses(400, MOCK_ERROR_RATE="0.25", MOCK_SEED="1")).count(503)

    assert 60 <= failures <= 140
