"""The BFF's logger: JSON on stdout, service from POWERTOOLS_SERVICE_NAME, Lambda context and cold start per
invocation, the request's correlation id (and, tracing on, trace id) on every line, credentials redacted
(bff.observability.redaction).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord

from bff.observability.redaction import might_hold_credentials, redact

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME") or "product-bff"


# The function's ARN and memory size are the same on every line of a log group (its name says which function), and
# the canonical line says where it comes from: about 150 bytes a line that CloudWatch would bill for nothing.
_CONSTANT_KEYS = ("function_arn", "function_memory_size")


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: LogRecord) -> str:
        for key in _CONSTANT_KEYS:
            log.pop(key, None)  # type: ignore[misc]
        line = super().serialize(log=log)
        # Most lines name no credential at all; only those pay for the walk through the record.
        if might_hold_credentials(line):
            return super().serialize(log=redact(log))
        return line


# Every line carries the correlation and trace ids; thread, process and asyncio task names would add noise
# ("taskName": "Task-5") and a lookup per record.
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False
logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # (3.12+, not yet in typeshed)
# Nor does a line name its source file and line (the formatter drops "location"): the logging HOWTO's own
# optimisation, which spares findCaller's walk up the stack on every record.
logging._srcfile = None


def _message_as_written(message: Any) -> Any:
    return message


# Powertools tries json.loads on every message by default; ours are plain text, and the failed parse (an
# exception per line) cost more than the rest of the formatting.
# Debug lines (one per downstream call) are written for the fraction POWERTOOLS_LOGGER_SAMPLE_RATE of invocations:
# inject_lambda_context draws again at each warm invocation (the cold one is drawn when this Logger is built).
logger = Logger(
    service=SERVICE_NAME,
    logger_formatter=RedactingFormatter(json_deserializer=_message_as_written, location=None),
)


def bind_request(correlation_id: str, own_request_id: str | None = None) -> None:
    """Ties the following log lines to this request (the Lambda wrapper clears them on the next one). When the
    caller chose the correlation id, the lines also carry the BFF's own id for the request (`request_id`), which
    the answers a shared cache may keep show instead."""
    logger.set_correlation_id(correlation_id)
    if own_request_id is None or own_request_id == correlation_id:
        logger.remove_keys(["request_id"])
    else:
        logger.append_keys(request_id=own_request_id)


def bind_trace(ids: tuple[str, str] | None) -> None:
    """The invocation's trace id on every following line, so that a line leads to its trace (tracing on)."""
    if ids is not None:
        logger.append_keys(trace_id=ids[0])
