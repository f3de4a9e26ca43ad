"""Start the Docker-free local API (`.venv-sam/bin/python -m localapi`) as a real process on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bff.config.services import variable_names
from tests.support.mock_processes import free_port
from tests.support.tooling import APP_PYTHON, REPO_ROOT, require_sam_venv

LOOPBACK = "127.0.0.1"
READY_TIMEOUT_S = 60.0
# Every worker starts before "ready"; two per function keep the tests' start-ups cheap on a shared machine.
TEST_POOL_SIZE = "2"
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LocalApi:
    process: subprocess.Popen[bytes]
    port: int
    stdout_path: Path
    stderr_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")


def inherited_environment() -> dict[str, str]:
    """The test process's environment less the services' variables, which other fixtures set for in-process BFFs:
    in `make dev` a shell `{NAME}_SERVICE_URL` wins over the local registry, so a leaked one would bypass it."""
    service_variables = set(variable_names())
    return {name: value for name, value in os.environ.items() if name not in service_variables}


def launch(
    port: int, log_dir: Path, extra_env: Mapping[str, str] = {}, template: Path = REPO_ROOT / "template.yaml"
) -> LocalApi:
    sam_venv = require_sam_venv()
    stdout_path, stderr_path = log_dir / f"localapi-{port}.out", log_dir / f"localapi-{port}.err"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [
                str(sam_venv / "bin" / "python"),
                "-m",
                "localapi",
                "--template",
                str(template),
                "--port",
                str(port),
                "--worker-python",
                str(APP_PYTHON),
            ],
            cwd=REPO_ROOT,
            # The JWT signing key of a test run is its own, never the developer's .local/jwt.
            env={
                **inherited_environment(),
                "LOCAL_POOL_SIZE": TEST_POOL_SIZE,
                "DEMO_PORT": "0",
                "LOCAL_JWT_DIR": str(log_dir / "jwt"),
                **extra_env,
            },
            stdout=stdout,
            stderr=stderr,
        )
    return LocalApi(process, port, stdout_path, stderr_path)


def wait_until_ready(api: LocalApi) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if "Local API ready" in api.stdout_path.read_text(errors="replace"):
            return
        if api.process.poll() is not None:
            pytest.fail(f"local API exited with {api.process.returncode}:\n{api.stderr()}")
        time.sleep(0.05)
    pytest.fail(f"local API not ready within {READY_TIMEOUT_S} s:\n{api.stderr()}")


def stop(api: LocalApi) -> int:
    if api.process.poll() is None:
        api.process.send_signal(signal.SIGINT)
    try:
        return api.process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        api.process.kill()
        api.process.wait()
        raise


@contextmanager
def running_local_api(log_dir: Path, extra_env: Mapping[str, str] = {}) -> Iterator[LocalApi]:
    api = launch(free_port(), log_dir, extra_env)
    try:
        wait_until_ready(api)
        yield api
    finally:
        stop(api)


type LocalApiFactory = Callable[[Mapping[str, str]], LocalApi]


@pytest.fixture
def local_api_factory(tmp_path: Path) -> Iterator[LocalApiFactory]:
    with ExitStack() as stack:

        def start(extra_env: Mapping[str, str]) -> LocalApi:
            return stack.enter_context(running_local_api(tmp_path, extra_env))

        yield start


@pytest.fixture(scope="module")
def shared_local_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    with running_local_api(tmp_path_factory.mktemp("localapi")) as api:
        yield api
