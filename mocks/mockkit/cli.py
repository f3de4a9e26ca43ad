"""`python -m mockkit serve NAME`: one mock service on a real socket, for local runs and integration tests.
`python -m mockkit faults`: the fault switches every mock reads, as `make help` shows them."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mockkit.config import MOCK_VARIABLES
from mockkit.faults import FAULT_EFFECTS, MockConfigError

# Service name (as the BFF names it in functions/bff/bff/config/services.py) -> the port the reference design gives it.
# The mock of service NAME is the module `{NAME}_service` in mocks/.
SERVICES = {"product": 8081, "reviews": 8082, "inventory": 8083, "cart": 8084}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mockkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve one mock service with uvicorn until interrupted")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, help="default: 8081 product, 8082 reviews, 8083 inventory, 8084 cart")
    commands.add_parser("faults", help="list the fault switches every mock reads when it starts")
    args = parser.parse_args(argv)
    if args.command == "faults":
        sys.stdout.write(describe_fault_switches())
        return 0

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


def describe_fault_switches() -> str:
    """The MOCK_* variables and MOCK_FAULT's values, with the per-service prefixes `make dev` understands."""
    width = max(map(len, [*MOCK_VARIABLES, *FAULT_EFFECTS])) + 2
    prefixes = ", ".join(f"{name.upper()}_" for name in SERVICES)
    lines = [
        "Mock fault switches (read when a mock starts; make dev passes them to every mock,",
        f"or to one with its service's prefix: {prefixes}; e.g. REVIEWS_MOCK_FAULT=hang make dev):",
        *(f"  {name:<{width}}{meaning}" for name, meaning in MOCK_VARIABLES.items()),
        "MOCK_FAULT values:",
        *(f"  {name:<{width}}{effect}" for name, effect in FAULT_EFFECTS.items()),
    ]
    return "\n".join(lines) + "\n"
