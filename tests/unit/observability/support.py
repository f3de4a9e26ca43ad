"""Reading back what the BFF writes to stdout: JSON log lines and EMF documents."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

type Lines = Callable[[], list[dict[str, Any]]]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def metric_names(document: dict[str, Any]) -> list[str]:
    return [metric["Name"] for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]


def dimension_sets(document: dict[str, Any]) -> list[list[str]]:
    sets: list[list[str]] = document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    return sets
