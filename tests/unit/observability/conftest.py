from __future__ import annotations

from collections.abc import Iterator

import pytest

from bff.observability.metrics import metrics
from tests.support.log_lines import Lines, json_lines


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str]) -> Iterator[Lines]:
    """The EMF documents printed to stdout, starting from clean shared Powertools metric state."""
    metrics.clear_metrics()
    capsys.readouterr()
    yield lambda: [line for line in json_lines(capsys.readouterr().out) if "_aws" in line]
    metrics.clear_metrics()
