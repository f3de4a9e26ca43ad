"""Real worker processes on throwaway handlers: the protocol, the Lambda context, timeouts and crashes."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from localapi.worker_process import FunctionSpec, Worker, WorkerInitError, start_worker

HANDLERS = """
import os, sys, time

def echo(event, context):
    print("a log line on stdout", flush=True)
    print("and one on stderr", file=sys.stderr)
    return {
        "event": event,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "arn": context.invoked_function_arn,
        "request_id": context.aws_request_id,
        "greeting": os.environ["GREETING"],
        "cwd": os.getcwd(),
    }

def sleep(event, context):
    time.sleep(event["seconds"])
    return {}

def crash(event, context):
    os._exit(3)

def fail(event, context):
    raise ValueError("bad input")
"""


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    (tmp_path / "handlers.py").write_text(textwrap.dedent(HANDLERS))
    return tmp_path


def spec_for(code_dir: Path, handler: str, timeout_s: float = 3, module: str = "handlers") -> FunctionSpec:
    return FunctionSpec(
        name="EchoFunction",
        handler=f"{module}.{handler}",
        code_dir=str(code_dir),
        memory_mb=512,
        timeout_s=timeout_s,
        environment={"GREETING": "hello"},
    )


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        if worker.alive:
            worker.stop()


def test_a_worker_answers_with_the_handler_result_and_a_lambda_like_context(
    code_dir: Path, workers: list[Worker], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a warm worker for a handler that also prints to stdout and stderr
    worker = start_worker(spec_for(code_dir, "echo"), sys.executable)
    workers.append(worker)

    # When two events are sent
    first = json.loads(worker.invoke('{"n": 1}') or "null")
    second = json.loads(worker.invoke('{"n": 2}') or "null")

    # Then each result comes back intact despite the prints, with the function's context and environment
    assert (first["event"], second["event"]) == ({"n": 1}, {"n": 2})
    assert first["function_name"] == "EchoFunction"
    assert first["memory"] == 512
    assert 2000 < first["remaining_ms"] <= 3000
    assert first["arn"].endswith(":function:EchoFunction")
    assert first["request_id"] != second["request_id"]
    assert first["greeting"] == "hello"
    assert first["cwd"] == str(code_dir)
    assert worker.alive

    # And the prints reach the local API's stderr, prefixed with the function and worker
    worker.stop()
    logs = capsys.readouterr().err
    assert f"EchoFunction[{worker.pid}] a log line on stdout" in logs
    assert f"EchoFunction[{worker.pid}] and one on stderr" in logs


def test_a_handler_exception_comes_back_as_a_lambda_error_document(code_dir: Path, workers: list[Worker]) -> None:
    # Given a worker whose handler raises
    worker = start_worker(spec_for(code_dir, "fail"), sys.executable)
    workers.append(worker)

    # When it is invoked
    error = json.loads(worker.invoke("{}") or "null")

    # Then the error is reported the way Lambda reports it, and the worker stays warm
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "bad input")
    assert worker.alive


def test_a_worker_that_outlives_the_timeout_is_killed(code_dir: Path, workers: list[Worker]) -> None:
    # Given a worker with a 0.3 s timeout
    worker = start_worker(spec_for(code_dir, "sleep", timeout_s=0.3), sys.executable)
    workers.append(worker)

    # When its handler sleeps for longer
    response = worker.invoke('{"seconds": 5}')

    # Then there is no response and the worker is gone
    assert response is None
    assert not worker.alive


def test_a_worker_that_crashes_gives_no_response(code_dir: Path, workers: list[Worker]) -> None:
    # Given a worker whose handler exits the process
    worker = start_worker(spec_for(code_dir, "crash"), sys.executable)
    workers.append(worker)

    # When it is invoked
    # Then there is no response and the worker is gone
    assert worker.invoke("{}") is None
    assert not worker.alive


def test_a_handler_that_cannot_be_imported_fails_the_start_with_an_import_error(code_dir: Path) -> None:
    # Given a handler name that does not exist
    # When a worker is started for it
    with pytest.raises(WorkerInitError) as failure:
        start_worker(spec_for(code_dir, "missing"), sys.executable)

    # Then the start fails with Lambda's import error document
    assert json.loads(failure.value.error_document or "null")["errorType"] == "Runtime.ImportModuleError"


def test_a_bad_setting_at_import_is_reported_in_one_line_without_a_traceback(
    code_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a handler module that refuses its configuration when imported, as the BFF's Settings.from_env does
    (code_dir / "configured.py").write_text(
        "class ConfigurationError(Exception):\n    pass\n\n"
        "raise ConfigurationError('invalid configuration: RETRY=abc')\n"
    )

    # When a worker is started for it
    with pytest.raises(WorkerInitError) as failure:
        start_worker(spec_for(code_dir, "handler", module="configured"), sys.executable)

    # Then the error is the exception's own type, and its report is the one line naming the setting
    assert failure.value.is_configuration_error
    assert failure.value.report() == ["EchoFunction: invalid configuration: RETRY=abc"]
    assert "Traceback" not in capsys.readouterr().err


def test_broken_code_is_reported_with_its_stack_trace(code_dir: Path) -> None:
    # Given a handler module that fails with a programming error when imported
    (code_dir / "broken.py").write_text("1 / 0\n")

    # When a worker is started for it
    with pytest.raises(WorkerInitError) as failure:
        start_worker(spec_for(code_dir, "handler", module="broken"), sys.executable)

    # Then the report ends with the error and shows where it happened
    *trace, summary = failure.value.report()
    assert summary == "EchoFunction: ZeroDivisionError: division by zero"
    assert any("broken.py" in line for line in trace)


def test_a_warm_up_invoke_runs_the_handler_once_before_ready_and_shows_nothing(
    code_dir: Path, tmp_path: Path, workers: list[Worker], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a handler that counts its invocations in a file and prints
    calls = tmp_path / "calls.txt"
    (code_dir / "counting.py").write_text(
        "def handler(event, context):\n"
        f"    open({str(calls)!r}, 'a').write(event['n'] + '\\n')\n"
        "    print('warm-up print', flush=True)\n"
        "    return {}\n"
    )

    # When a worker starts with a warm-up event, then serves a real one
    worker = start_worker(spec_for(code_dir, "handler", module="counting"), sys.executable, warm_up_event='{"n": "w"}')
    workers.append(worker)
    worker.invoke('{"n": "real"}')
    worker.stop()

    # Then the handler ran for the warm-up first, and only the real invoke's print reached the console
    assert calls.read_text().splitlines() == ["w", "real"]
    assert capsys.readouterr().err.count("warm-up print") == 1
