"""SnapStart, simulated in process: the real handler's registered hooks run as the runtime runs them.

A "snapshot" is the state after the before-snapshot hooks; a "restore" puts `random` back to that state and runs
the after-restore hooks. The services are one HTTP/1.1 keep-alive server on 127.0.0.1, in a thread of this
process, which counts the connections it accepts."""

from __future__ import annotations

import asyncio
import importlib
import json
import random
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import snapshot_restore_py

from bff.cache.entry import OnStoreError, ignore_store_error
from bff.config.locales import _babel_locale, format_price
from bff.config.services import SERVICES, variable
from bff.downstream.signing import SigV4Signer
from bff.resilience.backoff import Backoff
from bff.snapstart import register_hooks
from tests.support.fake_downstream import inventory_body, product_body, reviews_body
from tests.support.lambda_context import FakeLambdaContext
from tools.local_aws import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGE_SERVICES = 3
JITTER_DRAWS = 8
_BODIES: dict[str, Callable[[str], object]] = {
    "/products/": product_body,
    "/reviews/": reviews_body,
    "/inventory/": inventory_body,
}


class CountingServices:
    """The product, reviews and inventory services on one keep-alive origin; counts connections and requests."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> CountingServices:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop)
        self._server = started.result(timeout=5)
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server.close_clients()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while request_line := await reader.readline():
                while await reader.readline() not in (b"\r\n", b""):
                    pass
                self.requests += 1
                writer.write(_response(request_line.split()[1].decode()))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def _response(path: str) -> bytes:
    prefix, _, entity_id = path.rpartition("/")
    body = json.dumps(_BODIES[prefix + "/"](entity_id)).encode()
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
    return head + body


@pytest.fixture
def registries() -> Iterator[tuple[list[Any], list[Any]]]:
    """The runtime's registries, emptied for the test and put back after it."""
    before, after = snapshot_restore_py.get_before_snapshot(), snapshot_restore_py.get_after_restore()
    saved = (list(before), list(after))
    before.clear()
    after.clear()
    yield before, after
    before[:], after[:] = saved


@pytest.fixture
def services() -> Iterator[CountingServices]:
    with CountingServices() as running:
        yield running


@contextmanager
def imported_handler(services: CountingServices, **environment: str) -> Iterator[ModuleType]:
    """The real `bff.handler`, imported as the runtime imports it, against the counting services."""
    with pytest.MonkeyPatch.context() as patch:
        for name in SERVICES:
            patch.setenv(variable(name, "base_url"), services.url)
            patch.setenv(variable(name, "hedge_delay_ms"), "0")
        patch.setenv("RETRY_MAX_ATTEMPTS", "1")
        patch.setenv("HTTP_TRANSPORT", "aiohttp")
        patch.setenv("CACHE_L1_MAX_ENTRIES", "0")  # every page reaches the services, so connections can be counted
        for name, value in environment.items():
            patch.setenv(name, value)
        sys.modules.pop("bff.handler", None)
        module = importlib.import_module("bff.handler")
        try:
            yield module
        finally:
            module._loop.run_until_complete(module.composition.reset())
            sys.modules.pop("bff.handler", None)


@pytest.fixture
def handler(services: CountingServices, registries: tuple[list[Any], list[Any]]) -> Iterator[ModuleType]:
    with imported_handler(services) as module:
        yield module


def run(hooks: list[Any]) -> None:
    for function, args, kwargs in hooks:
        function(*args, **kwargs)


def page(handler: ModuleType) -> dict[str, Any]:
    event = {
        "version": "2.0",
        "routeKey": "GET /product-details/{id}",
        "rawPath": "/product-details/P001",
        "rawQueryString": "",
        "headers": {"host": "bff.test", "accept": "application/json"},
        "requestContext": {
            "http": {"method": "GET", "path": "/product-details/P001", "sourceIp": "127.0.0.1"},
            "requestId": "snapstart-test",
            "stage": "$default",
        },
        "pathParameters": {"id": "P001"},
        "isBase64Encoded": False,
    }
    response: dict[str, Any] = handler.lambda_handler(event, FakeLambdaContext())
    return response


def draws() -> list[float]:
    backoff = Backoff(base_s=0.05, cap_s=1.0)
    return [backoff.delay_s(retry) for retry in range(JITTER_DRAWS)]


def test_the_handler_registers_one_hook_before_the_snapshot_and_one_after_a_restore(
    handler: ModuleType, registries: tuple[list[Any], list[Any]]
) -> None:
    before, after = registries
    assert [entry[0] for entry in before] == [handler.snapstart_hooks.before_snapshot]
    assert [entry[0] for entry in after] == [handler.snapstart_hooks.after_restore]


def test_warming_builds_the_schema_and_calls_no_service(
    handler: ModuleType, services: CountingServices, registries: tuple[list[Any], list[Any]]
) -> None:
    # Given a freshly imported handler, whose schema FastAPI builds lazily
    assert handler.app.openapi_schema is None
    # When the runtime prepares the snapshot
    run(registries[0])
    # Then the schema is built, and no service saw a connection
    assert handler.app.openapi_schema is not None
    assert (services.connections, services.requests) == (0, 0)


def test_after_a_restore_the_pools_reconnect_and_the_page_still_renders(
    handler: ModuleType, services: CountingServices, registries: tuple[list[Any], list[Any]]
) -> None:
    # Given an environment whose pools hold one live connection per service
    assert page(handler)["statusCode"] == 200
    assert page(handler)["statusCode"] == 200
    assert services.connections == PAGE_SERVICES, "warm invocations reuse their connections"
    # When it is restored from a snapshot
    run(registries[1])
    response = page(handler)
    # Then every service is reached on a new connection, and the page is whole
    assert services.connections == 2 * PAGE_SERVICES
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["product"]["id"] == "P001"
    assert body["meta"]["degraded"] == []


def restore(snapshot: object, hooks: list[Any]) -> list[float]:
    random.setstate(snapshot)  # type: ignore[arg-type]
    run(hooks)
    return draws()


class CountingStore:
    """A shared-cache store that counts how often it is closed and warmed, and answers nothing."""

    def __init__(self) -> None:
        self.closed = 0
        self.warmed = 0

    async def get_many(
        self, keys: object, within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> dict[str, object]:
        return {}

    async def put_many(self, entries: object, within_s: float, on_error: OnStoreError = ignore_store_error) -> None:
        return None

    async def close(self) -> None:
        self.closed += 1

    async def warm(self, timeout_s: float = 2.0) -> bool:
        self.warmed += 1
        return True


def test_after_a_restore_the_shared_caches_client_is_closed_then_opened_again(
    handler: ModuleType, registries: tuple[list[Any], list[Any]]
) -> None:
    # Given an environment whose shared cache's client was opened before the snapshot
    store = CountingStore()
    handler.composition.cache.l2 = store
    # When it is restored
    run(registries[1])
    # Then that client is closed (its socket is dead, its credentials maybe another's) and opened once again
    assert (store.closed, store.warmed) == (1, 1)
    assert page(handler)["statusCode"] == 200


def test_init_for_a_snapshot_leaves_the_shared_cache_unconnected(
    services: CountingServices, registries: tuple[list[Any], list[Any]]
) -> None:
    # Given a shared cache whose address is the counting server (a connection to it would be counted)
    cache_url = services.url.replace("http://", "redis://")
    # When the runtime initialises the function for a snapshot and prepares the snapshot
    with imported_handler(services, CACHE_URL=cache_url, AWS_LAMBDA_INITIALIZATION_TYPE="snap-start"):
        run(registries[0])
        # Then nothing connected to it, nor to any service
        assert (services.connections, services.requests) == (0, 0)


def test_warming_loads_every_supported_locales_data(
    handler: ModuleType, registries: tuple[list[Any], list[Any]]
) -> None:
    # Given no locale data loaded yet (nor a price formatted with it)
    format_price.cache_clear()
    _babel_locale.cache_clear()
    # When the runtime prepares the snapshot
    run(registries[0])
    # Then each supported locale's data is in memory, for the snapshot to keep
    assert _babel_locale.cache_info().currsize == len(handler.settings.locales())


def test_a_restore_rereads_the_signing_credentials(
    services: CountingServices, registries: tuple[list[Any], list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an environment that signs its calls, snapshotted with one set of credentials
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSNAPSHOT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-before")
    with imported_handler(services, DOWNSTREAM_AUTH="iam", AWS_REGION="eu-west-1") as module:
        signer = module.http_client._signer
        assert isinstance(signer, SigV4Signer)
        # When it is restored where the execution role's credentials are others
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDRESTORED")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-after")
        run(registries[1])
        # Then it signs with those
        assert signer._credentials.get_frozen_credentials().access_key == "AKIDRESTORED"


def test_two_restored_environments_draw_different_jitter(
    handler: ModuleType, registries: tuple[list[Any], list[Any]]
) -> None:
    # Given one snapshot, taken after the before-snapshot hooks
    run(registries[0])
    snapshot = random.getstate()
    # When two environments are restored from it, each running the after-restore hooks
    first, second = restore(snapshot, registries[1]), restore(snapshot, registries[1])
    # Then their backoff jitter differs
    assert first != second


def test_without_the_hooks_two_restored_environments_would_retry_in_lockstep() -> None:
    # Given one snapshot, When two environments are restored from it and run nothing
    snapshot = random.getstate()
    first, second = restore(snapshot, []), restore(snapshot, [])
    # Then they draw the same jitter: what the reseed is for
    assert first == second


def test_a_restore_forgets_the_last_requests_correlation_and_trace_ids(
    handler: ModuleType, registries: tuple[list[Any], list[Any]]
) -> None:
    handler.logger.set_correlation_id("from-before-the-snapshot")
    handler.logger.append_keys(trace_id="0af7651916cd43dd8448eb211c80319c")
    run(registries[1])
    assert handler.logger.get_correlation_id() is None
    assert "trace_id" not in handler.logger.get_current_keys()


def test_without_the_runtime_package_nothing_is_registered(
    monkeypatch: pytest.MonkeyPatch, registries: tuple[list[Any], list[Any]]
) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)
    assert register_hooks(asyncio.new_event_loop(), object(), object()) is None  # type: ignore[arg-type]
    assert registries == ([], [])


def test_the_layer_does_not_ship_the_runtime_package() -> None:
    """The runtime's own copy must win: a copy in the layer would shadow it."""
    requirements = (REPO_ROOT / "layers" / "deps" / "requirements.txt").read_text().lower()
    assert "snapshot-restore-py" not in requirements
    assert "snapshot_restore_py" not in requirements


def test_the_signer_rereads_the_execution_roles_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a signer built from the session's credentials
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSNAPSHOT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-before")
    signer = SigV4Signer("eu-west-1")
    # When the environment is restored with other credentials
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDRESTORED")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-after")
    signer.reload_credentials()
    # Then it signs with those
    assert signer._credentials.get_frozen_credentials().access_key == "AKIDRESTORED"


def test_the_template_turns_snapstart_on_only_when_asked_and_only_for_published_versions() -> None:
    template = load_template(REPO_ROOT / "template.yaml")
    parameter = template["Parameters"]["SnapStart"]
    function = template["Resources"]["BffFunction"]["Properties"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("None", ["None", "PublishedVersions"])
    assert function["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}
    assert function["AutoPublishAlias"], "SnapStart applies to published versions: the alias publishes them"
