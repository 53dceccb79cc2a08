"""Requests' synchronous code under ASGI on threads kept between requests (cfg.request_threads)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.core.asgi import get_asgi_application

from cfg.body_limit import BodyLimit
from cfg.request_threads import (
    RequestThreads,
    SyncChainHandler,
    asgi_application,
    every_database_pooled,
    with_request_threads,
)
from modules.api.testing import http_scope

HTTP_SCOPE = {"type": "http", "method": "GET", "path": "/", "headers": []}


class ThreadRecorder:
    """An ASGI application whose requests make two thread-sensitive calls, as Django's handler does, and record the
    thread of each; a request can be held at a barrier between them, or fail."""

    def __init__(self) -> None:
        self.threads: list[tuple[int, int]] = []
        self.barrier: asyncio.Barrier | None = None
        self.failing = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        first = await sync_to_async(threading.get_ident)()
        if self.barrier is not None:
            await self.barrier.wait()
        if self.failing:
            raise RuntimeError("the view failed")
        self.threads.append((first, await sync_to_async(threading.get_ident)()))


async def nothing() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def ignore(message: dict[str, Any]) -> None:
    del message


async def requests(app: Any, count: int) -> None:
    await asyncio.gather(*(app(dict(HTTP_SCOPE), nothing, ignore) for _ in range(count)))


def test_a_request_runs_its_synchronous_code_on_one_thread_that_the_next_request_reuses() -> None:
    recorder = ThreadRecorder()
    app = RequestThreads(recorder)

    async def two_in_a_row() -> None:
        await requests(app, 1)
        await requests(app, 1)

    asyncio.run(two_in_a_row())
    (first, first_again), (second, second_again) = recorder.threads
    assert first == first_again == second == second_again
    assert first != threading.get_ident()


def test_requests_at_the_same_time_run_on_threads_of_their_own() -> None:
    recorder = ThreadRecorder()
    app = RequestThreads(recorder)

    async def three_at_once() -> None:
        recorder.barrier = asyncio.Barrier(3)
        await requests(app, 3)

    asyncio.run(three_at_once())
    assert all(first == second for first, second in recorder.threads)
    assert len({first for first, _ in recorder.threads}) == 3
    assert len(app.idle) == 3


def test_no_more_idle_threads_than_kept_stay() -> None:
    recorder = ThreadRecorder()
    app = RequestThreads(recorder, kept=1)

    async def three_at_once() -> None:
        recorder.barrier = asyncio.Barrier(3)
        await requests(app, 3)

    asyncio.run(three_at_once())
    assert len(app.idle) == 1


def test_the_thread_of_a_failed_request_is_not_lent_again() -> None:
    recorder = ThreadRecorder()
    app = RequestThreads(recorder)

    async def failed_then_fine() -> None:
        recorder.failing = True
        with pytest.raises(RuntimeError, match="the view failed"):
            await requests(app, 1)
        recorder.failing = False
        await requests(app, 1)

    asyncio.run(failed_then_fine())
    assert len(recorder.threads) == 1
    assert len(app.idle) == 1


def test_other_scopes_pass_through_untouched() -> None:
    seen: list[str] = []

    async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    app = RequestThreads(lifespan)
    asyncio.run(app({"type": "lifespan"}, nothing, ignore))
    assert seen == ["lifespan"]
    assert app.idle == []


def asgi_get(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    """An HTTP GET scope as uvicorn makes it."""
    return http_scope("GET", path, [(b"host", b"localhost"), *(headers or [])])


async def send_request(app: Any, scope: dict[str, Any], sent: list[dict[str, Any]]) -> None:
    messages = [{"type": "http.request", "body": b"", "more_body": False}]
    connected = asyncio.Event()  # never set: the client stays until the response has gone

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await connected.wait()
        return {"type": "http.disconnect"}

    async def keep(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(dict(scope), receive, keep)


def statuses(sent: list[dict[str, Any]]) -> list[int]:
    return [message["status"] for message in sent if message["type"] == "http.response.start"]


def test_django_starts_no_thread_for_a_request_once_one_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    app = RequestThreads(BodyLimit(get_asgi_application()))
    sent: list[dict[str, Any]] = []
    started: list[threading.Thread] = []
    start = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        started.append(thread)
        start(thread)

    async def two_in_a_row() -> None:
        await send_request(app, asgi_get("/no-such-page/"), sent)
        monkeypatch.setattr(threading.Thread, "start", counted)
        await send_request(app, asgi_get("/no-such-page/"), sent)
        monkeypatch.undo()  # before asyncio.run's own shutdown starts its thread

    asyncio.run(two_in_a_row())
    assert statuses(sent) == [404, 404]
    assert started == []


def test_the_middleware_and_the_view_of_a_request_run_in_one_switch_to_its_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = asgi_application()
    assert isinstance(app, SyncChainHandler)
    switched: list[str] = []
    switch = SyncToAsync.__call__

    def recorded(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        switched.append(self.func.__qualname__)
        return switch(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", recorded)
    sent: list[dict[str, Any]] = []
    asyncio.run(send_request(app, asgi_get("/api/accounts/me/", [(b"accept", b"application/json")]), sent))
    assert statuses(sent) == [401]
    # Besides the request_started signal and the response's close: one switch, in which the whole chain ran.
    assert [name for name in switched if "get_response" in name or "view" in name] == ["BaseHandler.get_response"]
    assert len(switched) == 3


@pytest.mark.parametrize(
    ("databases", "pooled"),
    [
        ({"default": {"OPTIONS": {"pool": {"max_size": 4}}}}, True),
        ({"default": {"OPTIONS": {"pool": True}}, "other": {"OPTIONS": {"pool": {"max_size": 2}}}}, True),
        ({"default": {"OPTIONS": {}, "CONN_MAX_AGE": 60}}, False),
        ({"default": {"OPTIONS": {"pool": {"max_size": 4}}}, "other": {"OPTIONS": {}}}, False),
    ],
)
def test_threads_are_kept_only_when_every_database_is_pooled(databases: dict[str, Any], pooled: bool) -> None:
    assert every_database_pooled(databases) is pooled


def test_without_the_pool_the_application_stays_as_django_made_it() -> None:
    # The tests' database has no pool: a kept thread would keep its persistent connection.
    recorder = ThreadRecorder()
    assert with_request_threads(recorder) is recorder
