"""Ending a task that must not outlive a request."""

from __future__ import annotations

import asyncio


async def cut_off(task: asyncio.Task[None]) -> None:
    """Cancels the task unless it has ended, and waits for it to unwind (one turn of the loop, or as long as its
    own cleanup takes: closing a socket, never a round trip)."""
    if not task.done():
        task.cancel()
    await asyncio.wait((task,))
    if not task.cancelled():
        task.exception()  # retrieved, so that an error is never "never retrieved"
