"""The X-Ray SDK stays off the cold-start path unless tracing is on (checked in fresh interpreters)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PROBE = "import sys, bff.observability.tracing as o; print('aws_xray_sdk' in sys.modules, o.tracer is not None)"
LAMBDA_WITH_DAEMON = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000"}


@pytest.fixture
def recording_xray_sdk(tmp_path: Path) -> Path:
    """A stand-in aws_xray_sdk, so that an import of it shows up whether or not the real one is installed."""
    package = tmp_path / "aws_xray_sdk"
    (package / "core").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core" / "__init__.py").write_text(
        "class _Recorder:\n"
        "    def configure(self, **kwargs): pass\n"
        "xray_recorder = _Recorder()\n"
        "def patch(modules, **kwargs): pass\n"
        "def patch_all(**kwargs): pass\n"
    )
    return tmp_path


def probe(sdk_dir: Path, **environ: str) -> str:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_", "_X_AMZN"))
    }
    pythonpath = os.pathsep.join([str(sdk_dir), str(REPO / "functions" / "bff")])
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**inherited, **environ, "PYTHONPATH": pythonpath},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return completed.stdout.strip()


@pytest.mark.parametrize(
    "environ",
    [{}, {**LAMBDA_WITH_DAEMON, "POWERTOOLS_TRACE_DISABLED": "true"}, {"LAMBDA_TASK_ROOT": "/var/task"}],
    ids=["local", "disabled-in-lambda", "lambda-without-daemon"],
)
def test_tracing_off_never_imports_the_xray_sdk(recording_xray_sdk: Path, environ: dict[str, str]) -> None:
    assert probe(recording_xray_sdk, **environ) == "False False"


def test_tracing_on_builds_the_tracer(recording_xray_sdk: Path) -> None:
    assert probe(recording_xray_sdk, **LAMBDA_WITH_DAEMON) == "True True"
