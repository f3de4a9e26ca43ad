"""Noticing a client that goes away while the mock is still working on its response."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine

from mockkit.asgi import Receive


async def run_until_disconnect(work: Coroutine[object, object, None], receive: Receive) -> bool:
    """Run `work`; if the client disconnects first, cancel it and return True.

    Servers do not cancel an application when its client leaves; they only report `http.disconnect` through
    `receive`, so a sleeping mock must listen for it to stop (and to log that the caller gave up).
    """
    work_task = asyncio.create_task(work)
    watcher = asyncio.create_task(_wait_for_disconnect(receive))
    try:
        await asyncio.wait({work_task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        finished_first = work_task.done()
        work_task.cancel()
        watcher.cancel()
        await asyncio.wait({work_task, watcher})
    if finished_first:
        work_task.result()
        return False
    return True


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def wait_forever() -> None:
    await asyncio.Event().wait()
