"""Where the project's tools live, for tests that drive SAM CLI or the local API as subprocesses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SAM_VENV = REPO_ROOT / ".venv-sam"
APP_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"


def require_sam_venv() -> Path:
    """The SAM CLI virtualenv; in CI its absence is a failure, elsewhere a skip with the fix."""
    if (SAM_VENV / "bin" / "sam").exists():
        return SAM_VENV
    if os.environ.get("CI"):
        pytest.fail(".venv-sam is missing: `make test` installs it")
    pytest.skip(".venv-sam is missing: run `make test` (or `make dev`) once to install SAM CLI")


def python313_bin() -> str:
    candidates = sorted(Path.home().glob(".pyenv/versions/3.13*/bin"))
    return str(candidates[-1]) if candidates else ""


def sam_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", "eu-west-1"))
    env["PATH"] = os.pathsep.join(part for part in (python313_bin(), env.get("PATH", "")) if part)
    return env
