"""Bridge a blocking iterator (the Docker SDK's streams) into asyncio.

Each stream gets its own thread, so a long `logs -f` never starves the shared
executor that the short engine calls run on.
"""
from __future__ import annotations

import asyncio
import threading
from typing import AsyncIterator, Callable, Iterator, TypeVar

T = TypeVar("T")
_END = object()


async def iterate_in_thread(
    open_stream: Callable[[], Iterator[T]], close: Callable[[Iterator[T]], None], *, maxsize: int = 64
) -> AsyncIterator[T]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(maxsize)
    stream_box: list[Iterator[T]] = []
    stopped = threading.Event()

    def put(item: object) -> None:
        # Back-pressure: the thread waits for the consumer instead of buffering without bound.
        fut = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while not stopped.is_set():
            try:
                fut.result(timeout=0.5)
                return
            except TimeoutError:
                continue
            except Exception:
                return
        fut.cancel()

    def pump() -> None:
        try:
            stream = open_stream()
            stream_box.append(stream)
            for item in stream:
                if stopped.is_set():
                    break
                put(item)
            put(_END)
        except BaseException as exc:  # handed to the consumer, re-raised there
            put(exc)

    thread = threading.Thread(target=pump, name="stream-pump", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stopped.set()
        if stream_box:
            try:
                close(stream_box[0])
            except Exception:
                pass
