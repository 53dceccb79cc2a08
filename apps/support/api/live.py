"""Live updates: one ticket's events for its customer, one ticket's events for staff, and every ticket's events for
the staff queue; as Server-Sent Events (Accept: text/event-stream) or, for pollers, as one page of JSON with an ETag
(apps.support.live does the work). Who may see the ticket is decided before anything streams. And the typing
indicator: "I am writing" from either side, to the other side's open streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpResponse, HttpResponseBase
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.support import live, selectors
from apps.support.api.common import (
    ID_MAX,
    NO_TICKET_404,
    NOT_SIGNED_IN,
    SMALL_BODY_BYTES,
    STAFF_ONLY,
    TAG,
    StaffOnly,
)
from modules.api.events import (
    LAST_EVENT_ID,
    MEDIA_TYPE,
    EventStreamRenderer,
    is_asgi,
    resume_cursor,
    wants_events,
)
from modules.api.schema import error_responses

View = TypeVar("View", bound=Callable[..., HttpResponseBase])

KINDS = (
    "created, message (data: the message as the ticket's answer shows it), status and priority (data: number, "
    "subject, status, priority, updated_at), read (data: side, up_to, at); for staff also assignee and sla_breach. "
    "Streams also carry typing (data: side, name; for staff, internal), which has no id and is never replayed"
)
ENVELOPE = "id (the cursor), ticket (its number), kind, audience (public or staff), data, created_at"


def stream_help(who: str) -> str:
    return (
        f"With `Accept: text/event-stream`: Server-Sent Events of {who}, each `id: <event id>`, `event: <kind>` and "
        f"`data: <JSON: {ENVELOPE}>`. The kinds: {KINDS}. The stream starts after `Last-Event-ID` (a reconnecting "
        "EventSource sends it), else after `since`, else with what happens from now on; it sends each event as it "
        "happens, a comment line every SUPPORT__HEARTBEAT_SECONDS, and ends after SUPPORT__STREAM_SECONDS (the "
        "client reconnects with Last-Event-ID). Ids grow in the order events were written; clients key events by "
        "id (one of another ticket may come late, after higher ids). An error before the stream begins is one "
        "`error` event under its own status. Without that Accept header: one JSON page of the events after `since` "
        f"(at most {live.PAGE}) with `cursor` for the next poll, and an ETag: send it back as If-None-Match to be "
        "answered 304 Not Modified while nothing is new."
    )


class SinceSerializer(serializers.Serializer[Any]):
    since = serializers.IntegerField(
        min_value=0,
        max_value=ID_MAX,
        required=False,
        help_text="Only the events after this id: the `cursor` of the last answer, or the last event's id "
        "(Last-Event-ID wins over it). A poller's default: 0",
    )


class EnvelopeSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(help_text="The event's id: the cursor")
    ticket = serializers.IntegerField(help_text="The ticket's number")
    kind = serializers.CharField(help_text=KINDS)
    audience = serializers.CharField(help_text="public (the customer and staff) or staff (staff only)")
    # Serializer.data is the rendered result: DRF's metaclass takes a field of that name out of the class.
    data = serializers.DictField(help_text="What the event carries, by kind")  # type: ignore[assignment]
    created_at = serializers.DateTimeField()


class EventPageSerializer(serializers.Serializer[Any]):
    events = EnvelopeSerializer(many=True, help_text=f"Oldest first, at most {live.PAGE}")
    cursor = serializers.IntegerField(help_text="The last event's id (else `since`): ask again with ?since=<cursor>")
    more = serializers.BooleanField(help_text="More events wait after the cursor: ask again at once")


def etag_matches(request: Request, etag: str) -> bool:
    """If-None-Match names this ETag (compared weakly, as RFC 9110 says for If-None-Match) or is `*`."""
    wanted = parse_etags(request.headers.get("If-None-Match", ""))
    return "*" in wanted or etag in {tag.removeprefix("W/") for tag in wanted}


def events_schema(operation_id: str, summary: str, who: str, errors: dict[int, str]) -> Callable[[View], View]:
    return extend_schema(
        operation_id=operation_id,
        tags=[TAG],
        summary=summary,
        description=stream_help(who),
        parameters=[
            SinceSerializer,
            OpenApiParameter(
                LAST_EVENT_ID,
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                description="Resume after this event id (what a reconnecting EventSource sends); wins over `since`",
            ),
            OpenApiParameter(
                "If-None-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The ETag of the last answer: 304 while no event came after its cursor",
            ),
        ],
        responses={
            (200, "application/json"): EventPageSerializer,
            (200, MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description=stream_help(who)),
            304: OpenApiResponse(description="Nothing new after the cursor the If-None-Match ETag names"),
            **error_responses({400: "since or Last-Event-ID is not a whole number from 0", **errors}),
        },
    )


def events_answer(request: Request, scope: live.Scope) -> HttpResponseBase:
    """The stream, or the page for pollers, of `scope`: the caller was allowed to see it already."""
    since = resume_cursor(request, SinceSerializer, "since")
    if wants_events(request):
        after = live.last_event_id(scope) if since is None else since
        return live.stream(scope, after, asgi=is_asgi(request))
    found = live.page(scope, since or 0)
    etag = f'"{found.cursor}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag_matches(request, etag):
        return HttpResponse(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response({"events": found.events, "cursor": found.cursor, "more": found.more}, headers=headers)


class TicketEventsView(APIView):
    renderer_classes = (JSONRenderer, EventStreamRenderer)

    @events_schema(
        "support_ticket_events",
        "Follow my ticket",
        "the ticket: new messages, status and priority changes, read receipts (never an internal note nor anything "
        "about one)",
        {**NOT_SIGNED_IN, **NO_TICKET_404},
    )
    def get(self, request: Request, number: int) -> HttpResponseBase:
        ticket = selectors.customer_ticket_get(user=request.user, number=number)
        return events_answer(request, live.customer_scope(ticket))


class StaffTicketEventsView(APIView):
    permission_classes = (StaffOnly,)
    renderer_classes = (JSONRenderer, EventStreamRenderer)

    @events_schema(
        "support_staff_ticket_events",
        "Follow a ticket (staff)",
        "the ticket, for staff: everything its customer sees, and internal notes, assignments and SLA breaches",
        {**STAFF_ONLY, 404: "No such ticket"},
    )
    def get(self, request: Request, number: int) -> HttpResponseBase:
        return events_answer(request, live.staff_ticket_scope(selectors.staff_ticket_get(number=number)))


class QueueEventsView(APIView):
    permission_classes = (StaffOnly,)
    renderer_classes = (JSONRenderer, EventStreamRenderer)

    @events_schema(
        "support_queue_events", "Follow the queue (staff)", "every ticket, for staff (new tickets too)", STAFF_ONLY
    )
    def get(self, request: Request) -> HttpResponseBase:
        return events_answer(request, live.queue_scope())


TYPING_HELP = (
    f"Send one when the person starts writing, and again every few seconds while they go on: streams open on the "
    f"ticket now get a `typing` event (no id: it is not replayed, and pollers never see it). At most one every "
    f"{live.TYPING_EVERY_SECONDS} s per person is passed on; the others are answered the same and dropped."
)


class StaffTypingSerializer(serializers.Serializer[Any]):
    internal = serializers.BooleanField(
        required=False, default=False, help_text="Writing an internal note: shown to staff only, never the customer"
    )


class TicketTypingView(APIView):
    max_body_bytes = SMALL_BODY_BYTES

    @extend_schema(
        operation_id="support_ticket_typing",
        tags=[TAG],
        summary="Say I am writing (my ticket)",
        description=f"{TYPING_HELP} Staff following the ticket are told; the customer's own streams are not.",
        request=None,
        responses={204: None, **error_responses({**NOT_SIGNED_IN, **NO_TICKET_404})},
    )
    def post(self, request: Request, number: int) -> Response:
        ticket = selectors.customer_ticket_get(user=request.user, number=number)
        live.announce_typing(ticket=ticket, user=request.user, side="customer")
        return Response(status=status.HTTP_204_NO_CONTENT)


class StaffTypingView(APIView):
    permission_classes = (StaffOnly,)
    max_body_bytes = SMALL_BODY_BYTES

    @extend_schema(
        operation_id="support_staff_ticket_typing",
        tags=[TAG],
        summary="Say I am writing (staff)",
        description=f"{TYPING_HELP} A public reply is shown to the customer and staff; a note (internal) to staff "
        "only.",
        request=StaffTypingSerializer,
        responses={
            204: None,
            **error_responses({400: "internal is not a boolean", **STAFF_ONLY, 404: "No such ticket"}),
        },
    )
    def post(self, request: Request, number: int) -> Response:
        serializer = StaffTypingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket = selectors.staff_ticket_get(number=number)
        live.announce_typing(
            ticket=ticket, user=request.user, side="staff", internal=serializer.validated_data["internal"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
