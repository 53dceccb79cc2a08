"""A run's events, in order (RunEvent rows numbered by `seq`): what the SSE endpoint and pollers read.

One writer per run at a time: the engine while the run is running, a service (under the run's row lock) while it
is not. Text arrives from the model in small deltas; they are written in batches (every TEXT_FLUSH_SECONDS or
TEXT_FLUSH_CHARS) so that a long answer is not a row per word."""

from __future__ import annotations

import time
from typing import Any

from django.db.models import Max

from apps.agents.models import AgentRun, RunEvent
from apps.agents.storable import storable

TEXT_FLUSH_SECONDS = 0.1
TEXT_FLUSH_CHARS = 400


def next_seq(run_id: int) -> int:
    return (RunEvent.objects.filter(run_id=run_id).aggregate(last=Max("seq"))["last"] or 0) + 1


def event_append(*, run: AgentRun, kind: str, data: dict[str, Any]) -> RunEvent:
    """One event, by a service holding the run's row lock (the run is not running)."""
    return RunEvent.objects.create(run=run, seq=next_seq(run.pk), kind=kind, data=storable(data))


class EventRecorder:
    """The engine's writer: numbers the events of a running run and batches its text."""

    def __init__(self, run_id: int, first_seq: int) -> None:
        self.run_id = run_id
        self.seq = first_seq - 1
        self._text: list[str] = []
        self._text_since = 0.0

    async def emit(self, kind: str, data: dict[str, Any]) -> None:
        await self.flush_text()
        await self._write(kind, data)

    def rows(self, events: list[tuple[str, dict[str, Any]]]) -> list[RunEvent]:
        """Events numbered for a write of the caller's (with the run's final state, in one transaction)."""
        rows = []
        for kind, data in events:
            self.seq += 1
            rows.append(RunEvent(run_id=self.run_id, seq=self.seq, kind=kind, data=storable(data)))
        return rows

    async def text(self, delta: str) -> None:
        if not delta:
            return
        if not self._text:
            self._text_since = time.monotonic()
        self._text.append(delta)
        if time.monotonic() - self._text_since >= TEXT_FLUSH_SECONDS or sum(map(len, self._text)) >= TEXT_FLUSH_CHARS:
            await self.flush_text()

    async def flush_text(self) -> None:
        if self._text:
            delta, self._text = "".join(self._text), []
            await self._write("text", {"delta": delta})

    async def _write(self, kind: str, data: dict[str, Any]) -> None:
        self.seq += 1
        await RunEvent.objects.acreate(run_id=self.run_id, seq=self.seq, kind=kind, data=storable(data))
