"""Server-Sent Events: one publisher (the tick), any number of listeners.

The tick publishes once; every listener has a small queue and, when it falls
behind, loses the oldest events rather than slowing the tick down. A new
listener first receives the latest event, so a dashboard has data at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi.sse import ServerSentEvent


class Broadcaster:
    """Fan one stream of events out to every connected listener."""

    def __init__(self, queue_size: int = 32) -> None:
        self._queue_size = queue_size
        self._listeners: set[asyncio.Queue[ServerSentEvent | None]] = set()
        self._latest: ServerSentEvent | None = None
        self._sequence = 0

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def publish(self, event: str, data: Any) -> None:
        """Send ``data`` (JSON-serialisable) as an ``event`` to every listener, now."""
        self._sequence += 1
        message = ServerSentEvent(event=event, data=data, id=str(self._sequence))
        self._latest = message
        for queue in self._listeners:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(message)

    def close(self) -> None:
        """End every listener's stream (on shutdown)."""
        for queue in self._listeners:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(None)

    async def listen(self) -> AsyncIterator[ServerSentEvent]:
        """Events from now on, starting with the latest one, until the stream closes."""
        queue: asyncio.Queue[ServerSentEvent | None] = asyncio.Queue(self._queue_size)
        if self._latest is not None:
            queue.put_nowait(self._latest)
        self._listeners.add(queue)
        try:
            while (message := await queue.get()) is not None:
                yield message
        finally:
            self._listeners.discard(queue)
