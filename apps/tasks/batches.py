"""Group commit for the worker: what is submitted while a batch is being written goes into the next one.

A single writer loop takes everything waiting, writes it with one call, and answers each submitter. Under
load the batches grow by themselves (the round trips of one batch are shared by all its items); when the
worker is quiet a batch holds one item and waits for nothing. If the write raises, every submitter of that
batch gets the exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class GroupCommit[Item, Result]:
    def __init__(self, write: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self.write = write
        self.waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self.wakeup = asyncio.Event()

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        self.wakeup.set()
        return await future

    async def run(self) -> None:
        """The writer loop; runs until cancelled."""
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            batch, self.waiting = self.waiting, []
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self.write([item for item, _ in batch])
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # its submitter may have been cancelled (the drain timeout)
                future.set_result(result)
