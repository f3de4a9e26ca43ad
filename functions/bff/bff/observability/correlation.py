"""The correlation id that ties one client request to every log line and downstream call it causes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

CORRELATION_HEADER = "x-correlation-id"
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")


def correlation_id_for(headers: Mapping[str, str], event: Mapping[str, Any] | None) -> str:
    """The client's X-Correlation-Id when well formed, else API Gateway's request id, else a fresh one."""
    offered = headers.get(CORRELATION_HEADER, "")
    if _WELL_FORMED.fullmatch(offered):
        return offered
    request_id = (event or {}).get("requestContext", {}).get("requestId")
    if isinstance(request_id, str) and _WELL_FORMED.fullmatch(request_id):
        return request_id
    return str(uuid.uuid4())
