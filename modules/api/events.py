"""Server-Sent Events for any app's API: the renderer that lets a client ask for them, the encoder, and the
streaming response that sends them under WSGI and under ASGI.

A view lists EventStreamRenderer among its renderers; `wants_events(request)` then says whether the client sent
`Accept: text/event-stream`. What fails before the stream begins is rendered by EventStreamRenderer as one `error`
event under the error's own status.

Under ASGI the events must come from an asynchronous iterator: Django's ASGI handler reads a synchronous iterator to
its end before sending anything (with a warning), and the events would arrive in one piece at the end.
`event_stream` turns a synchronous generator into one (each step runs in the request's thread); a view whose events
wait on something (a poll) writes its own asynchronous iterator and hands it to `stream_response`."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from modules.api.exceptions import ServiceError

if TYPE_CHECKING:
    from rest_framework.serializers import Serializer

logger = logging.getLogger(__name__)

Event = tuple[str, dict[str, Any]]
MEDIA_TYPE = "text/event-stream"
LAST_EVENT_ID = "Last-Event-ID"


def encode(name: str, data: Any, *, id: int | str | None = None) -> bytes:
    """One event: `id: <id>` (when given: what the client sends back as Last-Event-ID when it reconnects),
    `event: <name>`, `data: <json on one line>`, a blank line."""
    payload = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    head = f"id: {_one_line(str(id))}\n" if id is not None else ""
    return f"{head}event: {_one_line(name)}\ndata: {payload}\n\n".encode()


def comment(text: str = "") -> bytes:
    """A comment line, which clients ignore: a heartbeat that keeps proxies from closing an idle stream (and lets a
    WSGI server notice a client that left)."""
    return f": {_one_line(text)}\n\n".encode()


def _one_line(text: str) -> str:
    # A newline would end the field and start another: an id or name can never inject an event.
    return text.replace("\r", " ").replace("\n", " ")


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


def is_asgi(request: Request) -> bool:
    return isinstance(request._request, ASGIRequest)


def resume_cursor(request: Request, serializer_class: type[Serializer[Any]], field: str) -> int | None:
    """Where a client resumes: the Last-Event-ID header (a reconnecting EventSource sends it; an empty one, an event
    stream's id reset, is no header), else the query parameter `field`, else the field's default (None without
    one). `serializer_class` reads both: its `field` is an IntegerField from 0. A header it refuses is a 400 that
    names the header."""
    header = request.headers.get(LAST_EVENT_ID, "").strip()
    if header:
        serializer = serializer_class(data={field: header})
        if not serializer.is_valid():
            most = getattr(serializer.fields[field], "max_value", None)
            raise ValidationError(
                {LAST_EVENT_ID: [f"Must be the id of an event (a whole number from 0 to {most}); got {header[:40]!r}."]}
            )
    else:
        serializer = serializer_class(data=request.query_params)
        serializer.is_valid(raise_exception=True)
    cursor = serializer.validated_data.get(field)
    return None if cursor is None else int(cursor)


def stream_response(content: Iterator[bytes] | AsyncIterator[bytes]) -> StreamingHttpResponse:
    """Encoded events as a streaming response: synchronous content under WSGI, asynchronous under ASGI."""
    response = StreamingHttpResponse(content, content_type=f"{MEDIA_TYPE}; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    # nginx (and proxies that honour it) pass each event on at once instead of buffering the answer.
    response["X-Accel-Buffering"] = "no"
    return response


def _encoded(first: Event, events: Iterator[Event]) -> Iterator[bytes]:
    """The events, encoded. An error of the API's vocabulary raised once the stream has begun (the status line is
    sent) ends it with an `error` event carrying the body the exception handler would have answered."""
    try:
        yield encode(*first)
        for name, data in events:
            yield encode(name, data)
    except (ServiceError, APIException) as error:
        # Imported here: modules.api.errors must not be imported before rest_framework.views (DRF's settings import
        # it, for the parser and the exception handler), and this module may be the first to load.
        from modules.api.errors import as_api_exception, error_body

        api_error = as_api_exception(error)
        if api_error is None:  # both kinds map: unreachable
            raise
        logger.warning("event stream ended by %s: %s", type(error).__name__, api_error.detail)
        yield encode("error", error_body(api_error))
    finally:
        _close(events)  # a client that left: the source (a model's stream) is closed now, not when collected


async def in_request_thread(parts: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A synchronous iterator as an asynchronous one, each step run in the request's thread (where its database
    connection is)."""
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
    return stream_response(in_request_thread(parts) if is_asgi(request) else parts)
