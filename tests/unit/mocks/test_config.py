from __future__ import annotations

import pytest

from mockkit import MockConfig, MockConfigError
from mockkit.faults import (
    Flaky,
    Hang,
    Huge,
    Malformed,
    NoFault,
    Reset,
    ServerError,
    SlowBody,
    TooManyRequests,
    WrongShape,
)


def test_no_variables_means_the_service_default_latency_and_no_faults() -> None:
    # Given no MOCK_* variables
    # When the configuration is read
    config = MockConfig.from_environ({}, default_latency_ms=80)

    # Then the mock behaves like the healthy reference service
    assert config == MockConfig(latency_ms=80, fault=NoFault(), error_rate=0.0, seed=None)


def test_empty_values_count_as_unset() -> None:
    environ = {"MOCK_LATENCY_MS": "", "MOCK_FAULT": "", "MOCK_ERROR_RATE": "", "MOCK_SEED": ""}

    config = MockConfig.from_environ(environ, default_latency_ms=30)

    assert config == MockConfig(latency_ms=30)


def test_every_variable_is_read() -> None:
    environ = {"MOCK_LATENCY_MS": "0", "MOCK_FAULT": "error", "MOCK_ERROR_RATE": "0.25", "MOCK_SEED": "42"}

    config = MockConfig.from_environ(environ, default_latency_ms=50)

    assert config == MockConfig(latency_ms=0, fault=ServerError(), error_rate=0.25, seed=42)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("none", NoFault()),
        ("error", ServerError()),
        ("hang", Hang()),
        ("malformed", Malformed()),
        ("wrong-shape", WrongShape()),
        ("flaky:3", Flaky(3)),
        ("429", TooManyRequests(1)),
        ("slow-body", SlowBody(chunks=10, interval_s=0.1)),
        ("huge", Huge(size_bytes=2 * 1024 * 1024)),
        ("reset", Reset()),
    ],
)
def test_each_fault_name_selects_its_fault(text: str, fault: object) -> None:
    config = MockConfig.from_environ({"MOCK_FAULT": text}, default_latency_ms=50)

    assert config.fault == fault


def test_retry_after_is_configurable_for_429() -> None:
    config = MockConfig.from_environ({"MOCK_FAULT": "429", "MOCK_RETRY_AFTER_S": "7"}, default_latency_ms=50)

    assert config.fault == TooManyRequests(7)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MOCK_LATENCY_MS", "fast"),
        ("MOCK_LATENCY_MS", "-1"),
        ("MOCK_LATENCY_MS", "1.5"),
        ("MOCK_ERROR_RATE", "half"),
        ("MOCK_ERROR_RATE", "1.5"),
        ("MOCK_ERROR_RATE", "-0.1"),
        ("MOCK_ERROR_RATE", "nan"),
        ("MOCK_FAULT", "explode"),
        ("MOCK_FAULT", "Error"),
        ("MOCK_FAULT", "flaky"),
        ("MOCK_FAULT", "flaky:0"),
        ("MOCK_FAULT", "flaky:-2"),
        ("MOCK_FAULT", "flaky:two"),
        ("MOCK_RETRY_AFTER_S", "-1"),
        ("MOCK_SEED", "random"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(name: str, value: str) -> None:
    # Given one variable with a value the mock cannot honour
    # When the configuration is read, Then it fails loudly and says which variable is wrong
    with pytest.raises(MockConfigError, match=name):
        MockConfig.from_environ({name: value}, default_latency_ms=50)
