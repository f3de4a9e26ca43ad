from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bff.observability.logging import logger
from bff.observability.metrics import metrics
from tests.unit.observability.support import Lines, json_lines


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """The JSON lines the BFF logger writes; its handler holds the stdout of import time, not capsys's."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield lambda: json_lines(buffer.getvalue())
    handler.setStream(previous)


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str]) -> Iterator[Lines]:
    """The EMF documents printed to stdout, starting from clean shared Powertools metric state."""
    metrics.clear_metrics()
    capsys.readouterr()
    yield lambda: [line for line in json_lines(capsys.readouterr().out) if "_aws" in line]
    metrics.clear_metrics()
