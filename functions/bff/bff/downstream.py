"""The outbound edge: one GET to a downstream service, classified into a section outcome.

Everything that can go wrong on the wire ends here as a DownstreamError and leaves as a Failed outcome;
nothing downstream-specific (URLs, exception text, bodies) travels further.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from bff.errors import (
    DownstreamBadResponseError,
    DownstreamError,
    DownstreamNotFoundError,
    DownstreamTimeoutError,
    DownstreamUnavailableError,
)
from bff.outcomes import Failed, Fetched, JsonValue, SectionOutcome
from bff.pages import Section


class DownstreamClient:
    def __init__(
        self, http: httpx.AsyncClient, service_urls: Mapping[str, str], *, max_response_bytes: int
    ) -> None:
        self._http = http
        self._service_urls = dict(service_urls)
        self._max_response_bytes = max_response_bytes

    def url_for(self, section: Section, entity_id: str) -> str:
        return self._service_urls[section.service] + section.path_for(quote(entity_id, safe=""))

    async def fetch(
        self, section: Section, entity_id: str, *, timeout_s: float, headers: Mapping[str, str]
    ) -> SectionOutcome:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                body = await self._get(section, self.url_for(section, entity_id), timeout_s, headers)
            value = _parse(section, body)
        except TimeoutError:
            return Failed(DownstreamTimeoutError.reason, _elapsed_ms(started))
        except DownstreamError as error:
            return Failed(error.reason, _elapsed_ms(started))
        return Fetched(value, _elapsed_ms(started))

    async def _get(self, section: Section, url: str, timeout_s: float, headers: Mapping[str, str]) -> bytes:
        try:
            async with self._http.stream("GET", url, headers=headers, timeout=timeout_s) as response:
                _raise_for_status(section, response)
                return await _read_capped(section, response, self._max_response_bytes)
        except httpx.TimeoutException:
            raise DownstreamTimeoutError(section.service, "timed out") from None
        except httpx.TransportError as error:
            raise DownstreamUnavailableError(section.service, type(error).__name__) from None


def _raise_for_status(section: Section, response: httpx.Response) -> None:
    if response.status_code == 404:
        raise DownstreamNotFoundError(section.service, "404")
    if not response.is_success:
        raise DownstreamUnavailableError(section.service, f"status {response.status_code}")


async def _read_capped(section: Section, response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise DownstreamBadResponseError(section.service, "declared body over the size cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise DownstreamBadResponseError(section.service, "body over the size cap")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(section: Section, body: bytes) -> JsonValue:
    try:
        model = section.shape.validate_json(body)
    except ValidationError:
        raise DownstreamBadResponseError(section.service, "body is not the promised JSON") from None
    dumped: JsonValue = section.shape.dump_python(model, mode="json", by_alias=True)
    return dumped


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
