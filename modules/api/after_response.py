"""Work that runs once the response is on its way: the client does not wait for it, nor can it time it.

Servers call a response's close() after its last byte is sent (WSGI servers, Django's ASGI handler and the test
client alike). The work is then handed to a small pool of threads, so that it does not hold up the request's worker
either: the next request on the same keep-alive connection is not delayed by it (which would time it all the same).
It runs with its own database connections, closed when it ends. If the process dies first the work is lost, so it
must be work the user can ask for again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

from django.db import connections
from django.http import HttpResponseBase

logger = logging.getLogger(__name__)

# Sends to a provider, each bounded by its own timeout: a few threads are plenty. Tests put an executor that runs the
# work at once in its place (their database transaction is not visible from another thread).
executor: Executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="after-response")


def run_after_response(response: HttpResponseBase, work: Callable[[], None]) -> HttpResponseBase:
    close = response.close

    def close_then_hand_over() -> None:
        try:
            close()
        finally:
            executor.submit(_run, work)

    response.close = close_then_hand_over  # type: ignore[method-assign]
    return response


def _run(work: Callable[[], None]) -> None:
    try:
        work()
    except Exception:
        logger.exception("work after the response failed: %s", getattr(work, "__qualname__", work))
    finally:
        if threading.current_thread() is not threading.main_thread():
            # A pool thread's own connections (an executor running the work in place keeps the caller's).
            connections.close_all()
