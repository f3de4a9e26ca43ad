"""`python -m mockkit serve NAME`: one mock service on a real socket, for local runs and integration tests."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mockkit.faults import MockConfigError

# Service name (as the BFF names it in functions/bff/bff/services.py) -> the port the reference design gives it.
# The mock of service NAME is the module `{NAME}_service` in mocks/.
SERVICES = {"product": 8081, "reviews": 8082, "inventory": 8083, "cart": 8084}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mockkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve one mock service with uvicorn until interrupted")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, help="default: 8081 product, 8082 reviews, 8083 inventory, 8084 cart")
    args = parser.parse_args(argv)

    default_port = SERVICES[args.service]
    try:
        module = importlib.import_module(f"{args.service}_service")
    except MockConfigError as error:
        sys.stderr.write(f"mockkit: cannot start {args.service}: {error}\n")
        return 2

    import uvicorn  # noqa: PLC0415 - a dev-only dependency; the Lambda package never imports this module

    uvicorn.run(
        module.app,
        host=args.host,
        port=default_port if args.port is None else args.port,
        lifespan="off",
        access_log=False,
        log_level="warning",
        # Idle pooled connections from a client must outlive pauses between test invocations.
        timeout_keep_alive=60,
        # A hung request must not keep the process alive after SIGTERM.
        timeout_graceful_shutdown=1,
    )
    return 0
