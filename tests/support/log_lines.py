"""Reading back what the BFF writes to stdout: JSON log lines and EMF documents."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bff.observability.logging import logger

type Lines = Callable[[], list[dict[str, Any]]]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def metric_names(document: dict[str, Any]) -> list[str]:
    return [metric["Name"] for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]


def dimension_sets(document: dict[str, Any]) -> list[list[str]]:
    sets: list[list[str]] = document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    return sets


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """The JSON lines the BFF logger writes; its handler holds the stdout of import time, not capsys's."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield lambda: json_lines(buffer.getvalue())
    handler.setStream(previous)
