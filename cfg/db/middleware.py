"""A pool that has no free connection for a request: 503 with Retry-After, not a 500 and a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1


def is_pool_timeout(exception: BaseException) -> bool:
    """Django wraps psycopg_pool.PoolTimeout (a psycopg OperationalError) in its own OperationalError."""
    if not isinstance(exception, OperationalError):
        return False
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:  # no pool installed, so no pool to time out
        return False
    return isinstance(exception.__cause__, PoolTimeout)


class DatabaseBusyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_pool_timeout(exception):
            return None
        logger.warning("no free database connection for %s %s: %s", request.method, request.path, exception)
        response = JsonResponse(
            {"detail": "The server is busy; try again in a moment.", "error_code": "database_busy"}, status=503
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
