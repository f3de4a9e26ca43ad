"""The id rule every mock shares with the BFF, and the `ids=a,b` list of a batch call."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
ID_RULE = "1 to 64 characters: letters, digits, '_' or '-', starting with a letter or digit"
MAX_BATCH_IDS = 100


class InvalidRequestError(ValueError):
    """The request breaks a rule of the route; the message is the problem's detail."""


def is_valid_id(value: str) -> bool:
    # fullmatch, not match with ^$: "$" also matches before a trailing newline.
    return ID_PATTERN.fullmatch(value) is not None


def require_id(name: str, value: str) -> str:
    if not is_valid_id(value):
        raise InvalidRequestError(f"{name} {value!r} is invalid: an id is {ID_RULE}.")
    return value


def batch_ids(query: str) -> list[str]:
    """The ids of `?ids=a,b`, in order: the only parameter, given once, 1 to MAX_BATCH_IDS valid ids.

    The value is percent-decoded before it is split, so `a%2Cb` is two ids as well: no id contains a comma.
    """
    parameters = parse_qsl(query, keep_blank_values=True)
    names = [name for name, _ in parameters]
    if names != ["ids"]:
        raise InvalidRequestError("A batch call takes exactly one query parameter, ids=a,b,...")
    ids = parameters[0][1].split(",")
    if len(ids) > MAX_BATCH_IDS:
        raise InvalidRequestError(f"At most {MAX_BATCH_IDS} ids per call, got {len(ids)}.")
    for product_id in ids:
        require_id("id", product_id)
    return ids
