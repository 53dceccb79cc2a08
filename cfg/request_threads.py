"""How a request's synchronous code runs under ASGI: in one call on its thread, on a thread kept between requests.

Django's ASGI handler builds the middleware chain for async: each middleware's process_view, the view and the render
of a template response are separate switches from the event loop to the request's thread and back, and a synchronous
middleware ahead of an asynchronous one adds one more. `SyncChainHandler` builds the chain as under WSGI, and runs
the middleware and the view of a request in one switch. Every middleware here can run synchronously and every view
is synchronous (Server-Sent Events stream from the event loop once the view has returned its response): nothing
changes but the switches. An asynchronous view would still work, run by Django with async_to_sync, holding the
request's thread while it runs.

Django's handler also enters a ThreadSensitiveContext of its own for every request: a new single-thread executor,
whose thread starts with the request's first synchronous call and is joined by yet another new thread once the
request ends. Two thread starts per request are a large part of what a small API request costs a worker.
`RequestThreads` enters the request's context first, with an executor it lends: asgiref keeps the outermost context,
so Django's becomes a no-op, and the thread serves the next request, as a threaded WSGI server's threads do. A
request's synchronous code still runs on one thread, which serves one request at a time.

A thread kept between requests keeps what a request leaves on it: Django's database connections are per thread.
With psycopg's pool (every alias), each connection goes back to the pool when its request ends and nothing stays;
without it, a persistent connection (CONN_MAX_AGE) would stay open on the thread, so `with_request_threads` leaves
the application as it is. An executor whose request ended with an error (a cancelled request, a client gone) may
still be busy and is not lent again: its thread ends when its work does.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import FileResponse, HttpRequest, HttpResponseBase

from cfg.body_limit import AsgiApp, Receive, Scope, Send

# Idle threads kept per process. More requests than this at once start threads again, and those beyond it end.
KEPT_THREADS = 64


class SyncChainHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain of its WSGI handler: one switch to the request's thread runs
    the middleware and the view (see the module's docstring)."""

    def __init__(self) -> None:
        super(ASGIHandler, self).__init__()
        self.load_middleware(is_async=False)

    async def run_get_response(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await sync_to_async(self.get_response, thread_sensitive=True)(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]  # as ASGIHandler's own
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response


def asgi_application() -> SyncChainHandler:
    """django.core.asgi.get_asgi_application(), with SyncChainHandler."""
    django.setup(set_prefix=False)
    return SyncChainHandler()


class RequestThreads:
    """ASGI: each HTTP request's synchronous code on a thread kept between requests (see the module's docstring)."""

    def __init__(self, app: AsgiApp, *, kept: int = KEPT_THREADS) -> None:
        self.app = app
        self.kept = kept
        # The most recently used last: the next request takes it (its thread and its memory are warm).
        self.idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        executor = self.idle.pop() if self.idle else ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        if len(self.idle) < self.kept:
            self.idle.append(executor)
        else:
            executor.shutdown(wait=False)


def every_database_pooled(databases: dict[str, Any]) -> bool:
    return all(database.get("OPTIONS", {}).get("pool") for database in databases.values())


def with_request_threads(app: AsgiApp) -> AsgiApp:
    """`app` behind RequestThreads when every database alias has psycopg's pool; else `app` as it is."""
    return RequestThreads(app) if every_database_pooled(settings.DATABASES) else app
