from __future__ import annotations

import importlib
import sys

import pytest

from bff.config.services import SERVICES
from mockkit.cli import SERVICES as MOCKED_SERVICES
from mockkit.cli import main


def test_serve_refuses_to_start_with_a_bad_fault(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a bad MOCK_FAULT and a product module that has not been imported yet
    monkeypatch.setenv("MOCK_FAULT", "explode")
    monkeypatch.delitem(sys.modules, "product_service", raising=False)

    # When the serve command starts
    exit_code = main(["serve", "product"])

    # Then it exits before serving, saying what is wrong
    assert exit_code == 2
    assert "MOCK_FAULT='explode'" in capsys.readouterr().err


def test_serve_rejects_an_unknown_service(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "payments"])

    assert exit_info.value.code == 2
    assert "payments" in capsys.readouterr().err


def test_there_is_a_mock_for_each_service_the_bff_declares() -> None:
    # Given the BFF's declaration of its services and the mocks the toolkit serves
    # When they are compared
    # Then each declared service has a mock module and a port, and no mock serves an undeclared service
    assert list(MOCKED_SERVICES) == list(SERVICES)
    for name in SERVICES:
        assert callable(getattr(importlib.import_module(f"{name}_service"), "app", None))
