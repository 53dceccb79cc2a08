"""Request bodies bounded before anything reads them.

Django's ASGI handler copies the whole body into a temporary file before any middleware or view runs, and its own
limits (DATA_UPLOAD_MAX_MEMORY_SIZE) count form fields, not files. So the limit is enforced twice, by the same rule:
`BodyLimit` wraps the ASGI application and answers 413 on the declared length, or as soon as a body without one
(chunked) grows past the limit, before the handler reads it; `BodyLimitMiddleware` does the same under WSGI
(runserver), where the body is read lazily.

The limit of a request is its view's `max_body_bytes` when it declares one (the public sign-in views take a few
hundred bytes, the avatar upload its size); otherwise DATA_UPLOAD_MAX_MEMORY_SIZE, and for multipart bodies (files)
to the admin's pages SECURITY__MAX_UPLOAD_BYTES; a path that leads to no view takes NO_VIEW_BODY_BYTES. A view that
takes no files thus never has a large upload spooled for it.

A body must also arrive in time (the ASGI guard): a client that stops sending, or trickles, would otherwise hold its
spooled part and a connection for as long as it likes. 408 after BODY_IDLE_SECONDS without a byte, or when the whole
body takes longer than BODY_READ_SECONDS.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, ResolverMatch, resolve

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
AsgiApp = Callable[[Scope, Any, Any], Awaitable[None]]

TOO_LARGE_CODE = "payload_too_large"
# Set in an ASGI request's scope by BodyLimit once it has checked the declared length (to the limit it applied).
CHECKED_SCOPE_KEY = "cfg.body_limit"
NO_VIEW_BODY_BYTES = 4096
BODY_IDLE_SECONDS = 20.0
# 10 MB (the default upload limit) at 100 KB/s, with room.
BODY_READ_SECONDS = 120.0


def body_limit(view: Any, content_type: str, *, admin: bool = False) -> int:
    """The largest body, in bytes, that `view` (a resolved view function, or None; `admin` when it is one of the
    admin's) accepts with `content_type`."""
    if view is None:
        return NO_VIEW_BODY_BYTES
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    declared = getattr(view_class, "max_body_bytes", None) or getattr(view, "max_body_bytes", None)
    if callable(declared):  # a limit read from the settings when the request comes
        declared = declared()
    if declared:
        return int(declared)
    if admin and content_type.lower().startswith("multipart/"):
        return int(settings.MAX_UPLOAD_BYTES)
    data_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return int(data_limit if data_limit is not None else settings.MAX_UPLOAD_BYTES)


def too_large_body(limit: int) -> dict[str, str]:
    return {
        "detail": f"The request body is too large: this endpoint accepts at most {limit} bytes.",
        "error_code": TOO_LARGE_CODE,
    }


def wants_page(path: str, accept: str) -> bool:
    """A refusal answers a page to a browser on a page (a form posted without JavaScript), JSON to the rest."""
    return not path.startswith("/api/") and "text/html" in accept.lower()


def refusal(status: int, detail: dict[str, str], *, page: bool) -> tuple[bytes, bytes]:
    """The content type and body of a refusal: the API's error body, or a short page that says the same."""
    if not page:
        return b"application/json", json.dumps(detail).encode()
    advice = "Go back, shorten what you wrote, and send it again." if status == 413 else "Go back and send it again."
    body = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{status}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        f"<body><h1>The form could not be sent</h1><p>{html.escape(detail['detail'])}</p><p>{advice}</p>"
        "</body></html>"
    )
    return b"text/html; charset=utf-8", body.encode()


class BodyLimit:
    """ASGI: refuse a body over the limit of its view before Django reads any of it."""

    def __init__(self, app: AsgiApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers", ())}
        match = _match_of(scope)
        limit = body_limit(
            match.func if match else None,
            headers.get(b"content-type", b"").decode("latin-1"),
            admin=match is not None and "admin" in match.app_names,
        )
        page = wants_page(scope.get("path", "/"), headers.get(b"accept", b"").decode("latin-1"))
        declared = headers.get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _send_refusal(send, 413, too_large_body(limit), page=page)
            return
        scope[CHECKED_SCOPE_KEY] = limit
        await self.app(scope, _guarded(receive, send, limit, page=page), send)


def _match_of(scope: Scope) -> ResolverMatch | None:
    path: str = scope.get("path", "/")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    try:
        return resolve(path)
    except Resolver404:
        return None


def _guarded(receive: Receive, send: Send, limit: int, *, page: bool) -> Receive:
    """A receive that, while the body is coming, answers 413 once it passes `limit` and 408 when it stops arriving,
    and then reports a disconnect: Django stops reading (RequestAborted) without answering itself. Once the body is
    complete, receive is passed through untouched (Django then waits on it for a disconnect, as long as it likes)."""
    received = 0
    complete = False
    deadline: float | None = None

    async def guarded() -> Message:
        nonlocal received, complete, deadline
        if complete:
            message: Message = await receive()
            return message
        now = asyncio.get_running_loop().time()
        deadline = deadline if deadline is not None else now + BODY_READ_SECONDS
        try:
            message = await asyncio.wait_for(receive(), timeout=min(BODY_IDLE_SECONDS, max(deadline - now, 0.0)))
        except TimeoutError:
            await _send_refusal(send, 408, TOO_SLOW, page=page)
            return {"type": "http.disconnect"}
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                await _send_refusal(send, 413, too_large_body(limit), page=page)
                return {"type": "http.disconnect"}
            complete = not message.get("more_body", False)
        return message

    return guarded


TOO_SLOW = {"detail": "The request body did not arrive in time.", "error_code": "request_timeout"}


async def _send_refusal(send: Send, status: int, detail: dict[str, str], *, page: bool) -> None:
    content_type, body = refusal(status, detail, page=page)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """WSGI (and a second line under ASGI when BodyLimit is not in front): the declared length checked against the
    limit of the view the path leads to before any other middleware or view reads the body.

    The check runs in __call__, not in process_view: under ASGI, Django runs each process_view through a switch to
    the request's thread and back, a cost every request would pay. A request without a body resolves nothing."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH", "")
        if declared.isdigit() and int(declared) > 0 and CHECKED_SCOPE_KEY not in getattr(request, "scope", ()):
            refused = self.refusal(request, int(declared))
            if refused is not None:
                return refused
        return self.get_response(request)

    def refusal(self, request: HttpRequest, declared: int) -> HttpResponse | None:
        try:
            match: ResolverMatch | None = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            match = None
        admin = match is not None and "admin" in match.app_names
        limit = body_limit(match.func if match else None, request.META.get("CONTENT_TYPE", ""), admin=admin)
        if declared <= limit:
            return None
        page = wants_page(request.path, request.META.get("HTTP_ACCEPT", ""))
        content_type, body = refusal(413, too_large_body(limit), page=page)
        return HttpResponse(body, status=413, content_type=content_type.decode())
