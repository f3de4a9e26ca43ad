"""Where the project's tools live, for tests that drive SAM CLI or the local API as subprocesses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SAM_VENV = REPO_ROOT / ".venv-sam"
APP_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def skip_locally_fail_in_ci(reason: str) -> NoReturn:
    """A missing tool: a skip that says how to get it on a developer's machine, a failure in CI (CI=true)."""
    if in_ci():
        pytest.fail(f"{reason} (CI must not skip)", pytrace=False)
    pytest.skip(reason)


def require_sam_venv() -> Path:
    """The SAM CLI virtualenv (.venv-sam)."""
    if (SAM_VENV / "bin" / "sam").exists():
        return SAM_VENV
    skip_locally_fail_in_ci(".venv-sam is missing: `make .venv-sam/.installed` (or `make test`) installs SAM CLI")


def python313_bin() -> str:
    candidates = sorted(Path.home().glob(".pyenv/versions/3.13*/bin"))
    return str(candidates[-1]) if candidates else ""


def sam_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", "eu-west-1"))
    env["PATH"] = os.pathsep.join(part for part in (python313_bin(), env.get("PATH", "")) if part)
    return env
