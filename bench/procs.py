"""Start, wait for and tear down the processes a bench case talks to (all on 127.0.0.1)."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 15.0


class ProcessStartError(RuntimeError):
    """A process under test exited or never answered before the readiness timeout."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def python_env(sys_path: Sequence[Path], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child interpreter that finds `sys_path` entries and the bench package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(entry) for entry in [*sys_path, REPO_ROOT])
    env.update(extra or {})
    return env


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]


def wait_until_ready(process: subprocess.Popen[bytes], url: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessStartError(f"{process.args!r} exited with {process.returncode}: {_tail(log)}")
        if _answers_http(url):
            return
        time.sleep(0.05)
    raise ProcessStartError(f"{process.args!r} did not answer {url} within {READY_TIMEOUT_S} s: {_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running(
    command: Sequence[str], ready_urls: Sequence[str], env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` until the block ends; the block starts once every URL answers HTTP."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for url in ready_urls:
                wait_until_ready(process, url, log)
            yield process
        finally:
            _stop(process)


def run_python_json(module: str, args: Sequence[str], env: Mapping[str, str], timeout_s: float) -> Any:
    """Run `python -m module args --out FILE` to completion and return the JSON it wrote to FILE.

    The child's stdout goes to /dev/null: code under test may log there (Powertools does).
    """
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "result.json"
        completed = subprocess.run(
            [sys.executable, "-m", module, *args, f"--out={out}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{module} failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
        return json.loads(out.read_text())
