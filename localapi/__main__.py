"""`python -m localapi`: serve template.yaml's routes on 127.0.0.1, with warm worker processes in place of Docker."""

import argparse
import functools
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from localapi.dev_env import EnvVarsFileError, local_overrides, read_env_vars_file
from localapi.pool import WorkerPools
from localapi.ports import port_is_free, wait_until_listening
from localapi.worker_process import start_worker

HOST = "127.0.0.1"
USAGE_ERROR = 2
READY_TIMEOUT_S = 60.0


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localapi", description=__doc__)
    parser.add_argument("--template", type=Path, default=Path("template.yaml"), help="SAM template")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "3000")), help="port on 127.0.0.1 (env PORT)"
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
        type=int,
        default=int(os.environ.get("LOCAL_POOL_SIZE", "4")),
        help="most warm workers per function (env LOCAL_POOL_SIZE)",
    )
    arguments = parser.parse_args(argv)
    if arguments.worker_python is None:
        arguments.worker_python = arguments.template.absolute().parent / ".venv" / "bin" / "python"
    # Absolute, because workers run in their code directory; not resolved, which would step out of the venv.
    arguments.worker_python = arguments.worker_python.absolute()
    if arguments.pool_size < 1:
        parser.error("--pool-size must be at least 1")
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


def stop_on_sigterm(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if not arguments.template.is_file():
        return fail(f"template not found: {arguments.template}")
    if not os.access(arguments.worker_python, os.X_OK):
        return fail(f"worker interpreter not executable: {arguments.worker_python} (run `make install`?)")
    if not port_is_free(HOST, arguments.port):
        return fail(f"port {arguments.port} on {HOST} is already in use; stop that process or set PORT")
    try:
        user_overrides = read_env_vars_file(arguments.env_vars) if arguments.env_vars else {}
    except EnvVarsFileError as error:
        return fail(str(error))

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("werkzeug").setLevel(logging.INFO)
    # Explicitly, because a shell starting us in the background would have left SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    pools = WorkerPools(functools.partial(start_worker, python=str(arguments.worker_python)), arguments.pool_size)
    try:
        from localapi import samcli_bridge  # noqa: PLC0415 - SAM CLI takes a second to import; fail fast first

        with tempfile.TemporaryDirectory(prefix="localapi-") as scratch:
            env_vars_file = Path(scratch) / "env-vars.json"
            env_vars_file.write_text(json.dumps(local_overrides(arguments.port, os.environ, user_overrides)))
            samcli_bridge.serve(
                template=arguments.template,
                host=HOST,
                port=arguments.port,
                env_vars_file=env_vars_file,
                pools=pools,
                on_routes=functools.partial(announce_when_listening, arguments.port),
            )
    except KeyboardInterrupt:
        pass
    finally:
        pools.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
