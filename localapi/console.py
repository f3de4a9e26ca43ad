"""What `make dev` prints: one line per request, the functions' warnings and errors, their plain prints.

The functions keep logging JSON, as in Lambda; only this console reformats it. LOCAL_VERBOSE=1 shows every
line as the function wrote it, EMF metric documents and INFO logs included.
"""

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

VERBOSE_VARIABLE = "LOCAL_VERBOSE"
SHOWN_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
# Powertools' standard keys: the same on every line, so they say nothing on a console.
STANDARD_KEYS = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "correlation_id",
        "trace_id",
        "xray_trace_id",
        "sampling_rate",
        "exception",
        "exception_name",
        "stack_trace",
        "traceparent",
    }
)


def verbose_from(environ: Mapping[str, str]) -> bool:
    return environ.get(VERBOSE_VARIABLE, "") not in ("", "0", "false")


def clock_time(now: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(now))


def request_line(now: float, *, method: str, path: str, status: int, duration_ms: float, function: str | None) -> str:
    line = f"{clock_time(now)} {method} {path} {status} {duration_ms:.0f}ms"
    return f"{line} {function}" if function else line


def function_lines(now: float, prefix: str, line: str, *, verbose: bool) -> list[str]:
    """How one line a function wrote appears: as is when verbose or not JSON, compact for warnings and errors,
    hidden for EMF metrics, INFO logs and the mocks' access lines (the request line already says it). A request's
    canonical line is its EMF document: a degraded or failed one shows, without its metrics."""
    record = _json_object(line)
    if verbose or record is None:
        return [f"{prefix} {line}"]
    level = str(record.get("level", "")).upper()
    if level not in SHOWN_LEVELS:
        return []
    hidden = STANDARD_KEYS | _metric_keys(record)
    shown = {key: value for key, value in record.items() if key not in hidden}
    details = " ".join(f"{key}={_shown(value)}" for key, value in _flatten(shown))
    compact = " ".join(part for part in (clock_time(now), level, prefix, record.get("message", ""), details) if part)
    exception = record.get("exception")
    return [compact, *(f"    {text}" for text in str(exception).splitlines())] if exception else [compact]


class Console:
    """Serialises writes from the server's threads and the workers' log forwarders."""

    def __init__(self, stream: TextIO | None = None, *, verbose: bool, clock: Callable[[], float] = time.time) -> None:
        self._stream = stream
        self.verbose = verbose
        self._clock = clock
        self._lock = threading.Lock()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> "Console":
        return cls(verbose=verbose_from(environ))

    def request(self, method: str, path: str, status: int, duration_ms: float, function: str | None) -> None:
        self.write(
            [
                request_line(
                    self._clock(), method=method, path=path, status=status, duration_ms=duration_ms, function=function
                )
            ]
        )

    def function_output(self, prefix: str, line: str) -> None:
        self.write(function_lines(self._clock(), prefix, line, verbose=self.verbose))

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        stream = self._stream or sys.stderr
        with self._lock:
            stream.write("".join(f"{line}\n" for line in lines))
            stream.flush()


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _metric_keys(record: Mapping[str, Any]) -> frozenset[str]:
    """An EMF document's `_aws` block, its metrics and its dimensions."""
    directives = record.get("_aws", {}).get("CloudWatchMetrics", []) if isinstance(record.get("_aws"), dict) else []
    keys = {"_aws"}
    for directive in directives:
        keys.update(metric.get("Name", "") for metric in directive.get("Metrics", []))
        keys.update(name for dimensions in directive.get("Dimensions", []) for name in dimensions)
    return frozenset(keys)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _flatten(record: Mapping[str, Any], parent: str = "") -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in record.items():
        if isinstance(value, Mapping):
            pairs += _flatten(value, f"{parent}{key}.")
        else:
            pairs.append((key if not parent else f"{parent}{key}", value))
    return pairs
