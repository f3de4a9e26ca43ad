"""Without Chromium the browser test skips on a developer's machine, and fails in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import browser


def test_missing_chromium_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no chromium, in CI
    monkeypatch.setattr(browser, "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.setenv("CI", "true")

    # When the browser test asks for it, then it fails, naming the fix
    with pytest.raises(pytest.fail.Exception, match="make browser"):
        browser.require_chromium()


def test_missing_chromium_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no chromium on a developer's machine
    monkeypatch.setattr(browser, "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("CI", raising=False)

    # When the browser test asks for it, then it skips, naming the fix
    with pytest.raises(pytest.skip.Exception, match="make browser"):
        browser.require_chromium()
