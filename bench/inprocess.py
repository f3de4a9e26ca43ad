"""Child-side probe: import a Lambda handler and time warm in-process invocations.

Run as ``python -m bench.inprocess HANDLER`` in a fresh interpreter (the parent sets PYTHONPATH and the
service URLs); prints one JSON document with CPU per invocation, latencies, statuses and RSS checkpoints.
"""

import argparse
import importlib
import itertools
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.events import product_details_event
from bench.services import SAMPLE_PRODUCT_ID
from bench.stats import summarize
from tests.support.lambda_context import FakeLambdaContext

type LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def load_handler(import_path: str) -> LambdaHandler:
    """Resolve `package.module:attribute` (or `package.module.attribute`)."""
    module_name, _, attribute = import_path.rpartition(":") if ":" in import_path else import_path.rpartition(".")
    handler: LambdaHandler = getattr(importlib.import_module(module_name), attribute)
    return handler


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("VmRSS missing from /proc/self/status")


def product_ids(same: bool) -> Iterator[str]:
    """The product asked for by each invocation: always one (its sections cached after the first), or a new one
    each time (every section a miss, three downstream calls)."""
    return itertools.repeat(SAMPLE_PRODUCT_ID) if same else (f"P{number}" for number in itertools.count(1))


def invoke_many(
    handler: LambdaHandler, invocations: int, rss_checkpoints: set[int], ids: Iterator[str]
) -> tuple[list[float], float, Counter[int], dict[str, int]]:
    latencies_ms: list[float] = []
    statuses: Counter[int] = Counter()
    rss_at: dict[str, int] = {}
    cpu_started = time.process_time()
    for done in range(1, invocations + 1):
        event = product_details_event(next(ids))
        started = time.perf_counter()
        response = handler(event, FakeLambdaContext(remaining_ms=30_000))
        latencies_ms.append((time.perf_counter() - started) * 1000)
        statuses[int(response["statusCode"])] += 1
        if done in rss_checkpoints:
            rss_at[str(done)] = rss_kib()
    cpu_ms = (time.process_time() - cpu_started) * 1000
    return latencies_ms, cpu_ms, statuses, rss_at


def _flush_stdout() -> None:
    for stream in {id(s): s for s in (sys.stdout, sys.__stdout__) if s is not None}.values():
        stream.flush()


def stdout_per_page(handler: LambdaHandler, invocations: int, ids: Iterator[str]) -> dict[str, float | str]:
    """Bytes and lines written to stdout (file descriptor 1, whoever writes it) per invocation, and the
    response body's bytes: what CloudWatch Logs would ingest from this code for one page."""
    with tempfile.TemporaryFile() as captured:
        _flush_stdout()
        saved = os.dup(1)
        os.dup2(captured.fileno(), 1)
        try:
            responses = [
                handler(product_details_event(next(ids)), FakeLambdaContext(remaining_ms=30_000))
                for _ in range(invocations)
            ]
            _flush_stdout()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        captured.seek(0)
        written = captured.read()
    return {
        "stdout_bytes_per_page": round(len(written) / invocations, 1),
        "stdout_lines_per_page": round(written.count(b"\n") / invocations, 2),
        "response_bytes": len(str(responses[-1].get("body", "")).encode()),
        "log_sample_statuses": " ".join(sorted({str(response["statusCode"]) for response in responses})),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("handler")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--invocations", type=int, default=1000)
    parser.add_argument("--rss-at", type=int, nargs="*", default=[])
    parser.add_argument("--log-sample", type=int, default=0, help="invocations whose stdout is counted, after")
    parser.add_argument("--same-id", action="store_true", help="ask for one product every time (cached sections)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    handler = load_handler(args.handler)
    ids = product_ids(args.same_id)
    invoke_many(handler, args.warmup, set(), ids)
    latencies_ms, cpu_ms, statuses, rss_at = invoke_many(handler, args.invocations, set(args.rss_at), ids)
    log_volume = stdout_per_page(handler, args.log_sample, ids) if args.log_sample else {}
    args.out.write_text(
        json.dumps(
            {
                "handler": args.handler,
                "invocations": args.invocations,
                "cpu_ms_per_invocation": round(cpu_ms / args.invocations, 4),
                "latency": summarize(latencies_ms).as_dict(),
                "statuses": {str(status): count for status, count in statuses.items()},
                "rss_kib_after": rss_at,
                "log_volume": log_volume,
                "latencies_ms": [round(value, 3) for value in latencies_ms],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
