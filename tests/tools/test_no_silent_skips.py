"""In CI (CI=true) no test may pass by skipping: a missing tool is a failure there, a skip with the fix elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.tooling import REPO_ROOT, skip_locally_fail_in_ci

TOOLING = REPO_ROOT / "tests" / "support" / "tooling.py"
SKIPS = re.compile(r"importorskip|pytest\.skip\(|mark\.skip|skipif")


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_missing_tool_fails_in_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=r"^uv is missing: make it \(CI must not skip\)$"):
        skip_locally_fail_in_ci("uv is missing: make it")


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_a_missing_tool_skips_with_its_fix_elsewhere(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match=r"^uv is missing: make it$"):
        skip_locally_fail_in_ci("uv is missing: make it")


def test_every_skip_goes_through_the_one_helper() -> None:
    # Given every test module except the helper and this file
    sources = [path for path in (REPO_ROOT / "tests").rglob("*.py") if path not in {TOOLING, Path(__file__)}]
    # Then none skips on its own (importorskip, pytest.skip, skip marks), so none can skip silently in CI
    offenders = [str(path.relative_to(REPO_ROOT)) for path in sources if SKIPS.search(path.read_text())]
    assert offenders == []
