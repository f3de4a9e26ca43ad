"""What a newcomer sees: `make help` shows real values and the mocks' fault switches, and `make test` prints neither
import-linter's logo nor Mangum's event-loop DeprecationWarning."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from mockkit.config import MOCK_VARIABLES
from mockkit.faults import FAULT_EFFECTS
from tests.support.tooling import REPO_ROOT

# The variables `make help` fills in, taken out of the environment so each run starts from the Makefile's defaults.
VENV_BIN = ".venv/bin"
MAKE_VARIABLES = ("PORT", "DEMO_PORT", "STAGE", "SUB", "SCOPES", "BFF_URL", "LOCAL_POOL_SIZE", "LOCAL_VERBOSE")


def make_help(**variables: str) -> str:
    environ = {name: value for name, value in os.environ.items() if name not in MAKE_VARIABLES}
    environ.pop("MAKEFLAGS", None)
    result = subprocess.run(
        ["make", "-s", "help"],
        cwd=REPO_ROOT,
        env={**environ, **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_make_help_shows_the_defaults_instead_of_variable_names() -> None:
    # When a newcomer runs `make help` with nothing set
    printed = make_help()

    # Then the descriptions carry the default values, never a make variable's name
    assert "$(" not in printed
    assert "make dev          Run the local API (BFF + mocks) on 127.0.0.1:3000" in printed
    assert "PORT=3000" in printed
    assert "DEMO_PORT=8900" in printed
    assert "STAGE=dev" in printed


def test_make_help_shows_the_values_given() -> None:
    printed = make_help(PORT="4123", LOCAL_POOL_SIZE="2")

    assert "on 127.0.0.1:4123" in printed
    assert "PORT=4123" in printed
    assert "LOCAL_POOL_SIZE=2" in printed


def test_make_help_lists_every_fault_switch_of_the_mocks() -> None:
    printed = make_help()

    for switch in [*MOCK_VARIABLES, *FAULT_EFFECTS, "REVIEWS_MOCK_FAULT=hang make dev"]:
        assert switch in printed


def lint_imports_command() -> list[str]:
    """The import-linter command exactly as `make lint` (and so `make test`) runs it."""
    dry_run = subprocess.run(
        ["make", "-n", "lint"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    (line,) = [line for line in dry_run.splitlines() if line.startswith(f"{VENV_BIN}/lint-imports")]
    return shlex.split(line)


def test_make_lint_checks_the_import_contracts_without_the_logo() -> None:
    # Given the import-linter command of `make lint`
    command = lint_imports_command()

    # When it runs
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)

    # Then it checks every contract and prints no banner (the logo is drawn with box characters)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts:" in result.stdout
    assert "╔" not in result.stdout


MANGUM_IMPORT_TEST = """
import sys
sys.modules.pop("product_service", None)
import product_service  # constructs Mangum at import, when no event loop is set

def test_import():
    assert product_service.lambda_handler
"""

OWN_DEPRECATED_CALL_TEST = """
import warnings

def test_the_same_warning_from_elsewhere():
    warnings.warn("There is no current event loop", DeprecationWarning)
"""


PYTEST_WITH_PROJECT_CONFIG = [sys.executable, "-m", "pytest", "-c", "pyproject.toml", "--rootdir", "."]
PYTEST_WITH_PROJECT_CONFIG += ["-p", "no:cacheprovider", "-q"]


def test_only_mangums_event_loop_warning_is_filtered(tmp_path: Path) -> None:
    # Given a test that imports a mock (Mangum at import, no loop) and one that raises the same warning itself
    (tmp_path / "test_mangum_import.py").write_text(MANGUM_IMPORT_TEST)
    (tmp_path / "test_own_call.py").write_text(OWN_DEPRECATED_CALL_TEST)

    # When pytest runs both with the project's configuration
    result = subprocess.run(
        [*PYTEST_WITH_PROJECT_CONFIG, str(tmp_path / "test_mangum_import.py"), str(tmp_path / "test_own_call.py")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Then both pass, and the only warning shown is the other test's: Mangum's alone is filtered
    assert result.returncode == 0, result.stdout
    assert "1 warning" in result.stdout
    assert "test_own_call.py" in result.stdout.split("warnings summary", 1)[1]
    assert "mangum/adapter.py" not in result.stdout
