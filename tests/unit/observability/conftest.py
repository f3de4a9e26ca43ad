from __future__ import annotations

import pytest

from tests.support.log_lines import Lines, json_lines


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Lines:
    """The EMF documents printed to stdout from here on. Metrics are on, whatever POWERTOOLS_METRICS_DISABLED was
    when bff.observability.metrics was first imported (another test's handler may have set it)."""
    monkeypatch.setattr("bff.observability.metrics.METRICS_DISABLED", False)
    capsys.readouterr()
    return lambda: [line for line in json_lines(capsys.readouterr().out) if "_aws" in line]
