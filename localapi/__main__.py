"""`python -m localapi`: serve template.yaml's routes on 127.0.0.1, with warm worker processes in place of Docker."""

import _thread
import argparse
import functools
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from types import FrameType
from typing import NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from localapi.console import Console
from localapi.dev_env import (
    BFF_FUNCTION,
    BFF_SETTINGS_FILE,
    BFF_SIBLING_FUNCTIONS,
    SERVICE_NAMES,
    EnvOverrides,
    EnvVarsFileError,
    bff_setting_names,
    local_overrides,
    lookalike_warnings,
    read_env_vars_file,
)
from localapi.http_api import WARM_UP_EVENT
from localapi.local_aws import LocalAws, LocalAwsError, local_region, running_local_aws
from localapi.pool import WorkerPools, python_sources_fingerprint
from localapi.ports import port_is_free, wait_until_listening
from localapi.sam_version import sam_cli_problem
from localapi.worker_process import WorkerInitError, start_worker

HOST = "127.0.0.1"
USAGE_ERROR = 2
READY_TIMEOUT_S = 60.0
HIGHEST_PORT = 65535


class OneLineArgumentParser(argparse.ArgumentParser):
    """Errors in one line, as every other refusal of `make dev`, instead of usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"localapi: {message}\n")


def port_number(text: str) -> int:
    if not text.strip().isdigit() or not 0 < int(text) <= HIGHEST_PORT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to {HIGHEST_PORT}); check PORT")
    return int(text)


def pool_size(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number; check LOCAL_POOL_SIZE")
    return int(text)


def demo_port(text: str) -> int:
    return 0 if text.strip() == "0" else port_number(text.replace("check PORT", "check DEMO_PORT"))


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineArgumentParser(prog="python -m localapi", description=__doc__)
    parser.add_argument("--template", type=Path, default=Path("template.yaml"), help="SAM template")
    parser.add_argument(
        "--port", type=port_number, default=os.environ.get("PORT", "3000"), help="port on 127.0.0.1 (env PORT)"
    )
    parser.add_argument(
        "--worker-python",
        type=Path,
        default=os.environ.get("LOCAL_WORKER_PYTHON"),
        help="interpreter with the functions' dependencies (default: .venv/bin/python next to the template)",
    )
    parser.add_argument("--env-vars", type=Path, help="JSON overrides in `sam local` format, merged over ours")
    parser.add_argument(
        "--pool-size",
        type=pool_size,
        default=os.environ.get("LOCAL_POOL_SIZE", "4"),
        help="warm workers per function, all started before serving (env LOCAL_POOL_SIZE)",
    )
    parser.add_argument(
        "--demo-port",
        type=demo_port,
        default=os.environ.get("DEMO_PORT", "8900"),
        help="port of the demo page on 127.0.0.1, 0 for none (env DEMO_PORT)",
    )
    arguments = parser.parse_args(argv)
    if arguments.worker_python is None:
        arguments.worker_python = arguments.template.absolute().parent / ".venv" / "bin" / "python"
    # Absolute, because workers run in their code directory; not resolved, which would step out of the venv.
    arguments.worker_python = arguments.worker_python.absolute()
    return arguments


def fail(message: str) -> int:
    sys.stderr.write(f"localapi: {message}\n")
    return USAGE_ERROR


def announce_when_listening(port: int, functions: list[str]) -> None:
    def announce() -> None:
        if wait_until_listening(HOST, port, READY_TIMEOUT_S):
            sys.stdout.write(f"Local API ready on http://{HOST}:{port} ({', '.join(functions)})\n")
            sys.stdout.flush()

    threading.Thread(target=announce, name="ready announcer", daemon=True).start()


def start_demo(
    repo_root: Path, demo_port: int, api_port: int, cors_origins: list[str]
) -> subprocess.Popen[bytes] | None:
    """The demo frontend (demo/, never shipped in the Lambda) on its own port, calling this API cross-origin; told
    which origins this API allows, so that it asks for CORS_ALLOWED_ORIGINS only when its own is not among them."""
    if not demo_port or not (repo_root / "demo" / "__main__.py").is_file():
        return None
    api = f"http://{HOST}:{api_port}"
    command = [sys.executable, "-m", "demo", "--port", str(demo_port), "--api", api]
    command += ["--allowed-origins", ",".join(cors_origins)]
    process = subprocess.Popen(command, cwd=repo_root, stderr=subprocess.DEVNULL)  # noqa: S603 - our own module
    sys.stdout.write(f"Demo page on http://{HOST}:{demo_port}/?id=P001\n")
    return process


def stop_on_sigterm(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def read_bff_setting_names(template: Path) -> list[str] | None:
    """None when the template has the BFF but its settings cannot be read; [] for a template without the BFF."""
    try:
        return bff_setting_names((template.absolute().parent / BFF_SETTINGS_FILE).read_text())
    except OSError:
        return None if BFF_FUNCTION in template.read_text() else []


def refusal(arguments: argparse.Namespace) -> str | None:
    """Why the local API cannot start, checked before anything is started."""
    if problem := sam_cli_problem():
        return problem
    if not arguments.template.is_file():
        return f"template not found: {arguments.template}"
    if not os.access(arguments.worker_python, os.X_OK):
        return f"worker interpreter not executable: {arguments.worker_python} (`make dev` creates it)"
    for port, variable in ((arguments.port, "PORT"), (arguments.demo_port, "DEMO_PORT")):
        if port and not port_is_free(HOST, port):
            return f"port {port} on {HOST} is already in use; stop that process or set {variable}"
    return None


class Shutdown:
    """A reason to stop the local API found by another thread (its moto server gave up): the first reason is kept
    and the main thread interrupted, as Ctrl-C would; `main` then exits with that one line."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            _thread.interrupt_main()


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if problem := refusal(arguments):
        return fail(problem)
    try:
        user_overrides = read_env_vars_file(arguments.env_vars) if arguments.env_vars else {}
    except EnvVarsFileError as error:
        return fail(str(error))
    if (settings_names := read_bff_setting_names(arguments.template)) is None:
        return fail(f"cannot read the BFF's settings ({BFF_SETTINGS_FILE} next to the template)")
    # Explicitly, because a shell starting us in the background would have left SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    console = Console.from_environ()
    shutdown = Shutdown()
    try:
        with ExitStack() as running:
            try:
                local_aws = running.enter_context(start_local_aws(arguments, console, shutdown))
            except (LocalAwsError, OSError, BotoCoreError, ClientError) as error:
                return fail(f"local AWS (moto) did not start: {error}")
            sys.stdout.write(local_aws.summary() + "\n")
            sys.stdout.flush()
            status = serve(arguments, user_overrides, settings_names, local_aws.bff_environment(), console)
    except KeyboardInterrupt:
        status = 0
    return fail(shutdown.reason) if shutdown.reason is not None else status


def one_per_cause(errors: Iterable[WorkerInitError]) -> list[WorkerInitError]:
    """The BFF's functions share code and settings: a bad setting fails each the same way, and is told once (by the
    first function, in name order)."""
    seen: set[str] = set()
    kept = []
    for error in errors:
        cause = str(error).removeprefix(f"{error.function_name}: ")
        if error.function_name in (BFF_FUNCTION, *BFF_SIBLING_FUNCTIONS):
            if cause in seen:
                continue
            seen.add(cause)
        kept.append(error)
    return kept


def start_local_aws(
    arguments: argparse.Namespace, console: Console, shutdown: Shutdown
) -> AbstractContextManager[LocalAws]:
    """The moto server, from the worker interpreter (the app's virtualenv has moto[server]), registering this API's
    URL for every service the BFF declares; restarted on the console when it exits, or the local API stops."""
    return running_local_aws(
        say=lambda line: console.write([line]),
        give_up=shutdown.request,
        python=arguments.worker_python,
        host=HOST,
        template=arguments.template,
        function=BFF_FUNCTION,
        services=SERVICE_NAMES,
        api_url=f"http://{HOST}:{arguments.port}",
        region=local_region(os.environ),
    )


def serve(
    arguments: argparse.Namespace,
    user_overrides: EnvOverrides,
    settings_names: list[str],
    local_aws_environment: dict[str, str],
    console: Console,
) -> int:
    console.write(lookalike_warnings(os.environ, settings_names))
    overrides = local_overrides(os.environ, user_overrides, settings_names, local_aws_environment)
    if arguments.demo_port:
        # The demo page is another origin, as a frontend is in production: let it in unless origins were given.
        for function in (BFF_FUNCTION, *BFF_SIBLING_FUNCTIONS):
            overrides.setdefault(function, {}).setdefault(
                "CORS_ALLOWED_ORIGINS", f"http://{HOST}:{arguments.demo_port}"
            )
    cors_origins = overrides.get(BFF_FUNCTION, {}).get("CORS_ALLOWED_ORIGINS", "").split(",")

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    # The console writes one line per request; werkzeug's own request lines and banner would repeat it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    pools = WorkerPools(
        functools.partial(
            start_worker, python=str(arguments.worker_python), console=console, warm_up_event=WARM_UP_EVENT
        ),
        arguments.pool_size,
        fingerprint=python_sources_fingerprint,
        on_reload=lambda function: console.write([f"{function}: code changed, its workers restart"]),
    )
    demo = start_demo(arguments.template.absolute().parent, arguments.demo_port, arguments.port, cors_origins)
    try:
        from localapi import samcli_bridge  # noqa: PLC0415 - SAM CLI takes a second to import; fail fast first

        with tempfile.TemporaryDirectory(prefix="localapi-") as scratch:
            env_vars_file = Path(scratch) / "env-vars.json"
            env_vars_file.write_text(json.dumps(overrides))
            samcli_bridge.serve(
                template=arguments.template,
                host=HOST,
                port=arguments.port,
                env_vars_file=env_vars_file,
                cors_origins=cors_origins,
                pools=pools,
                console=console,
                on_ready=functools.partial(announce_when_listening, arguments.port),
            )
    except KeyboardInterrupt:
        pass
    except samcli_bridge.LocalApiStartError as failure:
        for init_error in one_per_cause(failure.errors):
            *stack_trace, summary = init_error.report()
            console.write(stack_trace)
            fail(f"{summary}; not started")
        return USAGE_ERROR
    finally:
        pools.close()
        if demo is not None:
            demo.terminate()
            demo.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
