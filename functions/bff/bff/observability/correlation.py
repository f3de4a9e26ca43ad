"""The correlation id that ties one client request to every log line and downstream call it causes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

CORRELATION_HEADER = "x-correlation-id"
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")


def correlation_id_for(headers: Mapping[str, str], event: Mapping[str, Any] | None, own_id: str | None = None) -> str:
    """The client's X-Correlation-Id when well formed, else the BFF's own id for the request (`own_id`, or
    `own_request_id(event)`)."""
    offered = headers.get(CORRELATION_HEADER, "")
    if _WELL_FORMED.fullmatch(offered):
        return offered
    return own_id if own_id is not None else own_request_id(event)


def own_request_id(event: Mapping[str, Any] | None) -> str:
    """The BFF's own id for the request, which nothing the caller sent can choose: API Gateway's request id, else
    a fresh one. An answer that a shared cache may keep and serve to others carries this id, not the caller's
    X-Correlation-Id (bff.api.middleware)."""
    request_id = (event or {}).get("requestContext", {}).get("requestId")
    if isinstance(request_id, str) and _WELL_FORMED.fullmatch(request_id):
        return request_id
    return str(uuid.uuid4())
