"""Sending a reply over ASGI: whole, trickled, streamed, or cut off midway."""

from __future__ import annotations

import asyncio

from mockkit.asgi import Send
from mockkit.payloads import Reply


class SimulatedConnectionReset(Exception):  # noqa: N818 - named for what the client experiences
    """Raised once part of a body went out: uvicorn then closes the socket, the client sees a broken read."""


class ResponseWriter:
    """One response's ASGI messages, with the caller's correlation id echoed and its progress remembered."""

    def __init__(self, send: Send, correlation_id: str | None) -> None:
        self._send = send
        self._correlation_id = correlation_id
        self.status: int | None = None
        self.complete = False

    async def start(self, reply: Reply) -> None:
        headers = [
            ("content-type", reply.content_type),
            ("content-length", str(len(reply.body))),
            *reply.headers,
        ]
        if self._correlation_id is not None:
            headers.append(("x-correlation-id", self._correlation_id))
        await self._send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            }
        )
        self.status = reply.status

    async def write(self, chunk: bytes, *, more: bool) -> None:
        await self._send({"type": "http.response.body", "body": chunk, "more_body": more})
        self.complete = not more


async def send_whole(writer: ResponseWriter, reply: Reply) -> None:
    await writer.start(reply)
    await writer.write(reply.body, more=False)


async def trickle(writer: ResponseWriter, reply: Reply, *, chunks: int, interval_s: float) -> None:
    """Headers at once, then the body in `chunks` pieces, one every interval_s."""
    await writer.start(reply)
    pieces = _split(reply.body, -(-len(reply.body) // chunks))
    for index, piece in enumerate(pieces):
        await asyncio.sleep(interval_s)
        await writer.write(piece, more=index < len(pieces) - 1)


async def stream(writer: ResponseWriter, reply: Reply, *, chunk_bytes: int) -> None:
    await writer.start(reply)
    pieces = _split(reply.body, chunk_bytes)
    for index, piece in enumerate(pieces):
        await writer.write(piece, more=index < len(pieces) - 1)


async def cut_off(writer: ResponseWriter, reply: Reply) -> None:
    await writer.start(reply)
    await writer.write(reply.body[: len(reply.body) // 2], more=True)
    raise SimulatedConnectionReset(f"connection reset after {len(reply.body) // 2} of {len(reply.body)} bytes")


def _split(body: bytes, size: int) -> list[bytes]:
    return [body[start : start + size] for start in range(0, len(body), size)] or [b""]
