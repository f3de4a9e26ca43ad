"""`GET /product-details?ids=P001,P002,…`: up to 50 product pages in one answer.

- The request is valid or refused whole: 1 to 50 ids, each by the single route's id rule, duplicates collapsed
  (first occurrence kept); no ids, more than 50 (duplicates count: the limit is on what is sent, as the OpenAPI
  document's maxItems says), or any invalid id answer 400 naming the first bad one.
  Unknown or repeated query parameters answer 400 naming the parameter.
- A valid request answers 200 whatever its items: `{"items": [...], "meta": {...}}`, items in request order,
  each with the status the single route would have answered and either its page or its problem (made by the one
  failure map, bff.api.failures).
- Cache-Control is the strictest of the items' (as the single route would have sent each): no-store if any item
  is degraded or failed on the server side, else the least max-age.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

from starlette.responses import JSONResponse, Response

from bff.api.failures import failure_response
from bff.api.freshness import NO_STORE, REVALIDATE, not_found_cache_control, page_cache_control
from bff.api.server_timing import SERVER_TIMING_HEADER, server_timing
from bff.api.validation import PRODUCT_ID_PATTERN, QUERY_PARAMETERS, validate_product_id
from bff.api.validators import ETAG_HEADER, strong_etag
from bff.config.settings import Settings
from bff.core.batch import MAX_BATCH_IDS, unique_in_order
from bff.core.policy import PageFailure
from bff.core.service import BatchItem, RenderedBatch
from bff.errors import InvalidParameterError

IDS = "ids"
BATCH_PATH = "/product-details"
# A name or an id is echoed in a problem only when it is short and plain.
_ECHOABLE = re.compile(r"[A-Za-z0-9_.~-]{1,64}")
_MAX_AGE = re.compile(r"max-age=(\d+)")
# As on the single route: only the product's priceFormatted depends on the caller's language.
_LANGUAGE_DEPENDENT_SECTION = "product"


def parse_batch_ids(query: str) -> list[str]:
    """The ids of the query, validated and collapsed; any other parameter must be the single route's."""
    return split_batch_query(query)[0]


def split_batch_query(query: str) -> tuple[list[str], str]:
    """The ids (validated, collapsed) and the rest of the query, for the single route's parser: `ids` once, and
    no name the batch does not know."""
    ids: str | None = None
    rest: list[str] = []
    for element in query.split("&") if query else []:
        raw_name, _, raw_value = element.partition("=")
        name = unquote(raw_name)
        if name not in (IDS, *QUERY_PARAMETERS):
            shown = f" '{name}'" if _ECHOABLE.fullmatch(name) else ""
            raise InvalidParameterError(
                f"Unknown query parameter{shown}: this endpoint takes only {', '.join((IDS, *QUERY_PARAMETERS))}."
            )
        if name != IDS:
            rest.append(element)
        elif ids is not None:
            raise InvalidParameterError(f"Query parameter {IDS} is repeated: give it once.")
        else:
            ids = unquote(raw_value)
    if not ids:
        raise InvalidParameterError(f"Query parameter {IDS} is required: 1 to {MAX_BATCH_IDS} ids, comma-separated.")
    return validate_ids(ids.split(",")), "&".join(rest)


def validate_ids(given: Sequence[str]) -> list[str]:
    if len(given) > MAX_BATCH_IDS:
        extra = given[MAX_BATCH_IDS]
        shown = f"the id '{extra}' is one too many" if _ECHOABLE.fullmatch(extra) else "more were given"
        raise InvalidParameterError(
            f"Query parameter {IDS}: at most {MAX_BATCH_IDS} ids, duplicates included; {shown}."
        )
    for position, entity_id in enumerate(given):
        try:
            validate_product_id(entity_id)
        except InvalidParameterError:
            shown = f"'{entity_id}'" if _ECHOABLE.fullmatch(entity_id) else f"at position {position + 1}"
            raise InvalidParameterError(
                f"Query parameter {IDS}: the id {shown} is invalid; each id is 1 to 64 characters: letters, "
                "digits, '_' or '-', starting with a letter or digit."
            ) from None
    return unique_in_order(given)


# Parsed strictly from the raw query by parse_batch_ids, so that each refusal names what is wrong.
BATCH_QUERY_OPENAPI: list[dict[str, Any]] = [
    {
        "name": IDS,
        "in": "query",
        "required": True,
        "style": "form",
        "explode": False,
        "description": f"1 to {MAX_BATCH_IDS} product ids, comma-separated (duplicates count towards the limit, "
        "then are collapsed, the first occurrence kept). Any invalid id refuses the whole request (400 naming it).",
        "schema": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH_IDS,
            "items": {"type": "string", "pattern": f"^{PRODUCT_ID_PATTERN}$"},
        },
    }
]


def batch_response(
    rendered: RenderedBatch, settings: Settings, *, correlation_id_for: Callable[[str], str]
) -> Response:
    """`correlation_id_for` gives the id the items' problems carry under the batch's Cache-Control (the BFF's own
    when a shared cache may keep the answer, bff.api.middleware)."""
    cache_control = strictest([_item_cache_control(item, settings) for item in rendered.items])
    correlation_id = correlation_id_for(cache_control)
    items = [_item_body(item, correlation_id) for item in rendered.items]
    body = {"items": items, "meta": _meta(rendered.items)}
    response = JSONResponse(body, headers={"cache-control": cache_control})
    response.headers[ETAG_HEADER] = strong_etag(response.body)
    response.headers[SERVER_TIMING_HEADER] = server_timing(rendered.timings_ms)
    if any(_LANGUAGE_DEPENDENT_SECTION in item.get("page", {}) for item in items):
        response.headers["vary"] = "Accept-Language"
    return response


def batch_degradations(rendered: RenderedBatch) -> list[tuple[str, str]]:
    """The (section, reason) of every degraded section of every answered item."""
    answered = [item.decision for item in rendered.items if not isinstance(item.decision, PageFailure)]
    return [pair for decision in answered for pair in decision.degradations]


def _item_body(item: BatchItem, correlation_id: str) -> dict[str, Any]:
    decision = item.decision
    if isinstance(decision, PageFailure):
        instance = f"{BATCH_PATH}/{item.entity_id}"
        problem = failure_response(decision, correlation_id=correlation_id, instance=instance)
        return {"id": item.entity_id, "status": problem.status_code, "problem": json.loads(bytes(problem.body))}
    return {"id": item.entity_id, "status": decision.status, "page": decision.body}


def _item_cache_control(item: BatchItem, settings: Settings) -> str:
    """What the single route would have sent for this item."""
    decision = item.decision
    if isinstance(decision, PageFailure):
        return not_found_cache_control(settings.negative_cache_ttl_s) if decision.status == 404 else NO_STORE
    return page_cache_control(item.freshness_s, settings.page_cache_max_age_s, degraded=decision.degraded)


def strictest(cache_controls: Sequence[str]) -> str:
    """no-store when any says so; else the least max-age (no-cache when that is 0)."""
    if not cache_controls or NO_STORE in cache_controls:
        return NO_STORE
    max_age_s = math.inf
    for value in cache_controls:
        found = _MAX_AGE.search(value)
        max_age_s = min(max_age_s, int(found.group(1)) if found else 0)
    return f"public, max-age={int(max_age_s)}" if max_age_s > 0 else REVALIDATE


def _meta(items: Sequence[BatchItem]) -> dict[str, int]:
    succeeded = [item for item in items if not isinstance(item.decision, PageFailure)]
    degraded = sum(1 for item in succeeded if not isinstance(item.decision, PageFailure) and item.decision.degraded)
    return {
        "requested": len(items),
        "succeeded": len(succeeded),
        "failed": len(items) - len(succeeded),
        "degraded": degraded,
    }
