"""Work that runs once the response is on its way: the client does not wait for it, nor can it time it.

Servers call a response's close() after its last byte is sent (WSGI servers, Django's ASGI handler and the test
client alike); the work runs there, on the request's thread, before Django's request_finished closes its database
connections. If the process dies first the work is lost, so it must be work the user can ask for again."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpResponseBase

logger = logging.getLogger(__name__)


def run_after_response(response: HttpResponseBase, work: Callable[[], None]) -> HttpResponseBase:
    close = response.close

    def close_after_work() -> None:
        try:
            work()
        except Exception:
            logger.exception("work after the response failed: %s", getattr(work, "__qualname__", work))
        finally:
            close()

    response.close = close_after_work  # type: ignore[method-assign]
    return response
