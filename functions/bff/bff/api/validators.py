"""Validators (RFC 9110 §8.8.3, §13.1.2): a strong ETag per representation of a page, and 304 for a client that
already holds it.

The tag is a hash of the identity (uncompressed) JSON, made where the page is rendered. The gzip representation
is other bytes, so it gets its own strong tag, the same one with "-gzip" inside the quotes, named here after the
gzip middleware has run. Hashing the gzip bytes instead would tie the tag to the zlib build: environments of two
runtime versions could disagree on the tag of one page.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Buffer, Iterable, Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ETAG_HEADER = "etag"
GZIP_TAG_SUFFIX = "-gzip"
# A 304 repeats what a cache needs to update its stored copy, not the metadata of a body it does not carry.
_NOT_SENT_ON_304 = frozenset({"content-length", "content-type", "content-encoding"})
# One list element: optional whitespace, an optional entity-tag (weak or strong), optional whitespace, then a comma
# or the end. etagc is %x21 / %x23-7E / obs-text; Starlette gives header values as latin-1 text.
_LIST_ELEMENT = re.compile(r'[ \t]*(?:(?:W/)?("[\x21\x23-\x7e\x80-\xff]*"))?[ \t]*(?:,|\Z)')


def strong_etag(body: Buffer) -> str:
    """128 bits of BLAKE2b of the body, base64url: a collision is not a practical concern."""
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return f'"{base64.urlsafe_b64encode(digest).rstrip(b"=").decode()}"'


def encoded_etag(etag: str, content_encoding: str | None) -> str:
    """The tag of the representation as sent: a gzip body is not the identity body, so it has a tag of its own."""
    if content_encoding is None or content_encoding.strip().lower() != "gzip" or not etag.endswith('"'):
        return etag
    return f'{etag[:-1]}{GZIP_TAG_SUFFIX}"'


@dataclass(frozen=True, slots=True)
class IfNoneMatch:
    any_representation: bool
    opaque_tags: frozenset[str]
    """Each listed tag with its quotes and without W/: If-None-Match compares weakly."""


def parse_if_none_match(field: str) -> IfNoneMatch | None:
    """`"*"` or a comma-separated list of entity-tags, empty elements allowed; None when the field is malformed."""
    if field.strip(" \t") == "*":
        return IfNoneMatch(any_representation=True, opaque_tags=frozenset())
    tags: set[str] = set()
    position = 0
    while position < len(field):
        element = _LIST_ELEMENT.match(field, position)
        if element is None or element.end() == position:
            return None
        if element.group(1) is not None:
            tags.add(element.group(1))
        position = element.end()
    return IfNoneMatch(any_representation=False, opaque_tags=frozenset(tags))


def names_current(if_none_match: str, etag: str) -> bool:
    """Whether If-None-Match names the current representation (its condition is false): a GET or HEAD then
    answers 304. A malformed field names nothing, so the client gets the full answer."""
    condition = parse_if_none_match(if_none_match)
    if condition is None:
        return False
    return condition.any_representation or etag.removeprefix("W/") in condition.opaque_tags


class ValidatorMiddleware:
    """Outside the gzip middleware: gives the sent representation its tag, says the page varies by Accept-Encoding,
    and answers a conditional GET or HEAD of a 200 page that the client already holds with 304 and no body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"GET", "HEAD"}:
            await self.app(scope, receive, send)
            return
        if_none_match = ", ".join(Headers(scope=scope).getlist("if-none-match")) or None
        not_modified = False

        async def send_validated(message: Message) -> None:
            nonlocal not_modified
            if not_modified:
                return  # the body of the 200 that became a 304
            if message["type"] == "http.response.start" and message["status"] == 200:
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(raw=message["headers"])
                if (etag := headers.get(ETAG_HEADER)) is not None:
                    etag = _name_representation(headers, etag)
                    not_modified = if_none_match is not None and names_current(if_none_match, etag)
                    if not_modified:
                        await _send_not_modified(send, headers.raw)
                        return
            await send(message)

        await self.app(scope, receive, send_validated)


def _name_representation(headers: MutableHeaders, etag: str) -> str:
    etag = encoded_etag(etag, headers.get("content-encoding"))
    headers[ETAG_HEADER] = etag
    if "accept-encoding" not in _vary_tokens(headers.getlist("vary")):
        headers.add_vary_header("Accept-Encoding")
    return etag


def _vary_tokens(values: Iterable[str]) -> set[str]:
    return {token.strip().lower() for value in values for token in value.split(",")}


async def _send_not_modified(send: Send, headers: Sequence[tuple[bytes, bytes]]) -> None:
    kept = [(name, value) for name, value in headers if name.decode("latin-1").lower() not in _NOT_SENT_ON_304]
    await send({"type": "http.response.start", "status": 304, "headers": kept})
    await send({"type": "http.response.body", "body": b""})
