from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.register_assert_rewrite("tests.support")

from bff.config.services import SERVICES, variable  # noqa: E402
from tests.support.lambda_context import FakeLambdaContext  # noqa: E402
from tests.support.mock_processes import MockProcess, running_mock  # noqa: E402

pytest_plugins = (
    "tests.support.log_lines",
    "tests.support.mock_processes",
    "tests.support.moto_server",
    "tests.support.redis_server",
)

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
type LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return event


@pytest.fixture(scope="session")
def reference_mocks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, MockProcess]]:
    """The mock of every declared service as a real process on 127.0.0.1, at its reference latency."""
    log_dir = tmp_path_factory.mktemp("reference-mocks")
    with ExitStack() as stack:
        yield {name: stack.enter_context(running_mock(name, log_dir)) for name in SERVICES}


@pytest.fixture(scope="session")
def bff_handler_module(reference_mocks: dict[str, MockProcess]) -> Iterator[ModuleType]:
    """The real `bff.handler` module, configured from the environment to call the reference mocks."""
    with pytest.MonkeyPatch.context() as patch:
        for name, mock in reference_mocks.items():
            patch.setenv(variable(name, "base_url"), mock.base_url)
        patch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ProductBffTests")
        sys.modules.pop("bff.handler", None)
        module = importlib.import_module("bff.handler")
        yield module
        module._loop.run_until_complete(module.http_client.aclose())
        sys.modules.pop("bff.handler", None)


@pytest.fixture(scope="session")
def bff_handler(bff_handler_module: ModuleType) -> LambdaHandler:
    handler: LambdaHandler = bff_handler_module.lambda_handler
    return handler
