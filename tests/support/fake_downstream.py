"""An in-process stand-in for the downstream services, as an httpx.MockTransport behind the outbound `Transport`
(no network)."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType

import httpx
import pytest

from bff.config.services import SERVICES, variable
from bff.downstream.http import HttpxTransport

type Behaviour = Callable[[httpx.Request], httpx.Response]

SERVICE_HOSTS = {name: f"http://{name}.test" for name in SERVICES}


def product_body(product_id: str) -> dict[str, object]:
    return {
        "id": product_id,
        "name": f"Awesome Gadget {product_id}",
        "description": "A gadget.",
        "price": 9999,
    }


def reviews_body(product_id: str) -> list[dict[str, object]]:
    return [
        {"productId": product_id, "rating": 5, "comment": "Love it!", "author": "Alice"},
        {"productId": product_id, "rating": 4, "comment": "Pretty good.", "author": "Bob"},
    ]


def inventory_body(product_id: str) -> dict[str, object]:
    return {"productId": product_id, "stock": 10 + len(product_id) % 5}


_HEALTHY_BODIES: dict[str, Callable[[str], object]] = {
    "product": product_body,
    "reviews": reviews_body,
    "inventory": inventory_body,
    "cart": lambda user_id: {"userId": user_id, "items": []},
}


@dataclass
class ServiceScript:
    """How one fake service answers: a status and body, a raw body, a delay, or a transport error."""

    status: int = 200
    body: object | None = None
    raw_body: bytes | None = None
    delay_s: float = 0.0
    error: type[httpx.TransportError] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeDownstream:
    scripts: dict[str, ServiceScript] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def script(self, service: str, **kwargs: object) -> None:
        self.scripts[service] = ServiceScript(**kwargs)  # type: ignore[arg-type]

    def transport(self) -> HttpxTransport:
        return HttpxTransport(httpx.MockTransport(self._handle))

    def calls_to(self, service: str) -> list[httpx.Request]:
        host = httpx.URL(SERVICE_HOSTS[service]).host
        return [request for request in self.requests if request.url.host == host]

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        service = _service_of(request)
        script = self.scripts.get(service, ServiceScript())
        if script.delay_s:
            await asyncio.sleep(script.delay_s)
        if script.error is not None:
            raise script.error("scripted failure", request=request)
        if script.raw_body is not None:
            return httpx.Response(script.status, content=script.raw_body, headers=script.headers)
        body = script.body if script.body is not None else _healthy_answer(service, request.url)
        return httpx.Response(script.status, content=json.dumps(body).encode(), headers=script.headers)


def _healthy_answer(service: str, url: httpx.URL) -> object:
    """The mocks' contract: `/{collection}/{id}` answers one body, `/{collection}?ids=a,b` a mapping by id."""
    if "ids" in url.params:
        return {entity_id: _HEALTHY_BODIES[service](entity_id) for entity_id in url.params["ids"].split(",")}
    return _HEALTHY_BODIES[service](url.path.rsplit("/", 1)[-1])


def _service_of(request: httpx.Request) -> str:
    for service, base in SERVICE_HOSTS.items():
        if httpx.URL(base).host == request.url.host:
            return service
    raise AssertionError(f"request to an unconfigured host: {request.url}")


@contextmanager
def handler_over(fake: FakeDownstream, **environment: str) -> Iterator[ModuleType]:
    """The real `bff.handler` module, imported afresh with `environment` (variable names as keys) and every service
    at its fake host, its innermost transport replaced by the in-process fake services."""
    with pytest.MonkeyPatch.context() as patch:
        for name, url in SERVICE_HOSTS.items():
            patch.setenv(variable(name, "base_url"), url)
        for name, value in environment.items():
            patch.setenv(name, value)
        patch.setattr("bff.downstream.http._default_transport", lambda name, limits: fake.transport())
        sys.modules.pop("bff.handler", None)
        yield importlib.import_module("bff.handler")
        sys.modules.pop("bff.handler", None)
