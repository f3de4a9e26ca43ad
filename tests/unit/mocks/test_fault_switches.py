"""`python -m mockkit faults` (what `make help` shows) lists exactly the switches the mocks honour."""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping

import pytest

from localapi.dev_env import MOCK_VARIABLES as PASSED_BY_MAKE_DEV
from mockkit.cli import SERVICES, main
from mockkit.config import MOCK_VARIABLES, MockConfig
from mockkit.faults import FAULT_EFFECTS, Fault, parse_fault


class RecordingEnviron(Mapping[str, str]):
    """An empty environment that remembers every name it was asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def test_the_listed_variables_are_the_ones_a_mock_reads_and_make_dev_passes_on() -> None:
    # Given an environment that records what is read
    environ = RecordingEnviron()

    # When a mock reads its configuration from it
    MockConfig.from_environ(environ, default_latency_ms=50)

    # Then the listed variables are exactly those read, and exactly those `make dev` hands to the mocks
    assert environ.asked == set(MOCK_VARIABLES)
    assert set(PASSED_BY_MAKE_DEV) == set(MOCK_VARIABLES)


def test_every_listed_fault_is_accepted_and_every_kind_of_fault_is_listed() -> None:
    # Given the listed MOCK_FAULT values, N filled in
    # When each is parsed
    kinds = {type(parse_fault(name.replace(":N", ":3"), retry_after_s=1)) for name in FAULT_EFFECTS}

    # Then each is a fault, and together they cover every fault a mock can inject
    assert kinds == set(typing.get_args(Fault.__value__))


def test_the_faults_command_prints_every_switch_and_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    # When the faults command runs
    exit_code = main(["faults"])

    # Then it lists each variable, each fault and each service's prefix
    printed = capsys.readouterr().out
    assert exit_code == 0
    for name in [*MOCK_VARIABLES, *FAULT_EFFECTS, *(f"{service.upper()}_" for service in SERVICES)]:
        assert name in printed
