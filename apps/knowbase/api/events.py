"""Server-Sent Events: the renderer that lets a client ask for them, and the response that streams them.

Under ASGI the events come from an asynchronous iterator (each step of the synchronous generator runs in the
request's thread): Django's ASGI handler would otherwise read a synchronous iterator to its end before sending
anything, and the answer would arrive in one piece at the end."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from rest_framework.exceptions import APIException
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from modules.api.errors import as_api_exception, error_body
from modules.api.exceptions import ServiceError

logger = logging.getLogger(__name__)

Event = tuple[str, dict[str, Any]]
MEDIA_TYPE = "text/event-stream"


def encode(name: str, data: Any) -> bytes:
    """One event: `event: <name>`, `data: <json on one line>`, a blank line."""
    payload = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()


class EventStreamRenderer(BaseRenderer):
    """Chosen when the client sends `Accept: text/event-stream`. A successful answer streams (the view returns an
    event stream); what this renders is an error answered before the stream began: one `error` event with the API's
    error body, under the error's own status."""

    media_type = MEDIA_TYPE
    format = "sse"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return encode("error", data)


def wants_events(request: Request) -> bool:
    renderer = getattr(request, "accepted_renderer", None)
    return isinstance(renderer, EventStreamRenderer)


def _encoded(first: Event, events: Iterator[Event]) -> Iterator[bytes]:
    """The events, encoded. An error of the API's vocabulary raised once the stream has begun (the status line is
    sent) ends it with an `error` event carrying the body the exception handler would have answered."""
    try:
        yield encode(*first)
        for name, data in events:
            yield encode(name, data)
    except (ServiceError, APIException) as error:
        api_error = as_api_exception(error)
        if api_error is None:  # both kinds map: unreachable
            raise
        logger.warning("knowbase: event stream ended by %s: %s", type(error).__name__, api_error.detail)
        yield encode("error", error_body(api_error))
    finally:
        _close(events)  # a client that left: the model's stream is closed now, not when collected


async def _async(parts: Iterator[bytes]) -> AsyncIterator[bytes]:
    step = sync_to_async(_next, thread_sensitive=True)
    try:
        while (part := await step(parts)) is not None:
            yield part
    finally:
        await sync_to_async(_close, thread_sensitive=True)(parts)


def _next(parts: Iterator[bytes]) -> bytes | None:
    return next(parts, None)


def _close(iterator: Iterator[Any]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def event_stream(request: Request, first: Event, events: Iterator[Event]) -> StreamingHttpResponse:
    """`first`, then the rest of `events`, as a streaming response. The view takes the first event itself, so that
    what fails before anything is sent (a bad filter, the embedder) answers with its own status."""
    parts = _encoded(first, events)
    content: Iterator[bytes] | AsyncIterator[bytes] = (
        _async(parts) if isinstance(request._request, ASGIRequest) else parts
    )
    response = StreamingHttpResponse(content, content_type=f"{MEDIA_TYPE}; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    # nginx (and proxies that honour it) pass each event on at once instead of buffering the answer.
    response["X-Accel-Buffering"] = "no"
    return response
