"""Runs: poll one, stream or page through its events, cancel it."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.agents import services
from apps.agents.api.common import (
    NO_RUN_404,
    NOT_SIGNED_IN,
    SMALL_BODY_BYTES,
    STATUS_HELP,
    TAG,
    RunDetailSerializer,
    own_run,
    run_body,
)
from apps.agents.api.stream import BATCH, RunEventFeed, poll
from apps.agents.models import RunEvent, RunStatus
from modules.api.events import (
    LAST_EVENT_ID,
    MEDIA_TYPE,
    EventStreamRenderer,
    is_asgi,
    resume_cursor,
    stream_response,
    wants_events,
)
from modules.api.schema import error_responses

MAX_SEQ = 2**31 - 1  # RunEvent.seq is a PositiveIntegerField
KINDS = (
    "status ({status}: queued, running, waiting_for_approval, succeeded, failed, cancelled), text ({delta}: a piece "
    "of the answer), tool_call ({id, tool, arguments}), tool_result ({id, tool, outcome: success, failed, denied or "
    "retry, content}), approval_request ({tool_call, id, tool, arguments}), approval_decision ({tool_call, id, tool, "
    "decision}), result ({output, usage}) and error ({code, message})"
)
EVENTS = (
    "With `Accept: text/event-stream`: Server-Sent Events, each `id: <seq>`, `event: <kind>` and `data: <JSON>`, in "
    f"seq order. The kinds: {KINDS}. While the run is queued or running the stream waits for new events (a comment "
    "line every 15 s keeps it open); it ends after the status event of a finished run or of one waiting for "
    "approval, or after AGENTS__RUN_TIMEOUT + 60 s. A client that reconnects sends `Last-Event-ID` (browsers do) "
    "and resumes after it. When it already has the last event of a settled run (finished, or waiting for approval "
    "with nothing new), the answer is 204 No Content, which tells an EventSource to stop reconnecting; to follow a "
    "paused run once it is decided, open a new stream with `?after=<the last id>`. An error before the stream "
    "begins is one `error` event under its own status."
)


class RunEventSerializer(serializers.ModelSerializer[RunEvent]):
    kind = serializers.CharField(read_only=True, help_text="The event's name")

    class Meta:
        model = RunEvent
        fields = ("seq", "kind", "data", "created_at")
        read_only_fields = fields


class RunEventsSerializer(serializers.Serializer[Any]):
    run = serializers.IntegerField(help_text="The run's id")
    status = serializers.CharField(help_text=STATUS_HELP)
    events = RunEventSerializer(many=True, help_text=f"At most {BATCH}, in seq order")
    next = serializers.IntegerField(help_text="The last seq returned (else `after`): ask again with ?after=<next>")
    done = serializers.BooleanField(
        help_text="No more events until somebody acts: the run finished, or waits for a staff decision"
    )


class AfterSerializer(serializers.Serializer[Any]):
    after = serializers.IntegerField(
        min_value=0,
        max_value=MAX_SEQ,
        required=False,
        default=0,
        help_text="Only the events after this seq (the Last-Event-ID header wins over it)",
    )


def events_after(request: Request) -> int:
    """Where to resume: the Last-Event-ID header (a reconnecting EventSource sends it), else ?after=, else 0."""
    return resume_cursor(request, AfterSerializer, "after") or 0


def settled_after(run_id: int, after: int) -> bool:
    """Whether a stream from `after` on would send nothing and end at once: the client already has the run's last
    event, and the run is settled (it finished, or waits for approval and nothing has happened since)."""
    result = poll(run_id, after)
    return result.settled and not result.events


class RunDetailView(APIView):
    @extend_schema(
        tags=[TAG],
        summary="Read a run",
        description="Poll a run: its status, answer (output), error_code and error, usage (tokens, requests, tool "
        "calls, cost, duration) and tool calls. The user's own runs only.",
        responses={200: RunDetailSerializer, **error_responses({**NOT_SIGNED_IN, **NO_RUN_404})},
    )
    def get(self, request: Request, run_id: int) -> Response:
        return Response(RunDetailSerializer(own_run(request, run_id)).data)


class RunEventsView(APIView):
    renderer_classes = (JSONRenderer, EventStreamRenderer)

    @extend_schema(
        tags=[TAG],
        summary="Stream a run's events",
        description=f"{EVENTS} Without that Accept header: one JSON page of the events after `after`, for pollers.",
        parameters=[
            AfterSerializer,
            OpenApiParameter(
                LAST_EVENT_ID,
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                description="Resume after this seq (what a reconnecting EventSource sends); wins over `after`",
            ),
        ],
        responses={
            (200, "application/json"): RunEventsSerializer,
            (200, MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description=EVENTS),
            (204, MEDIA_TYPE): OpenApiResponse(
                description="Server-Sent Events only: the client has the last event (Last-Event-ID or `after`) of a "
                "settled run (finished, or waiting for approval with nothing new). Nothing more will come, and an "
                "EventSource stops reconnecting."
            ),
            **error_responses(
                {400: "after or Last-Event-ID is not a whole number from 0", **NOT_SIGNED_IN, **NO_RUN_404}
            ),
        },
    )
    def get(self, request: Request, run_id: int) -> HttpResponseBase:
        run = own_run(request, run_id)
        after = events_after(request)
        if wants_events(request):
            if settled_after(run.pk, after):
                # Nothing more will come: 204 is how the SSE specification tells an EventSource to stop, where
                # an empty stream that ends would only make it reconnect (every few seconds, for ever).
                return HttpResponse(status=status.HTTP_204_NO_CONTENT)
            feed = RunEventFeed(run.pk, after, asgi=is_asgi(request))
            return stream_response(feed.async_parts() if feed.asgi else feed.sync_parts())
        result = poll(run.pk, after)
        return Response(
            {
                "run": run.pk,
                "status": result.status or run.status,
                "events": RunEventSerializer(result.events, many=True).data,
                "next": result.events[-1].seq if result.events else after,
                "done": result.settled,
            }
        )


class RunCancelView(APIView):
    max_body_bytes = SMALL_BODY_BYTES

    @extend_schema(
        tags=[TAG],
        summary="Cancel a run",
        description="A queued run, or one waiting for approval, is cancelled at once (its pending tool calls are "
        "denied): 200. A running one is asked to stop: 202, with cancel_requested true (follow it to cancelled). It "
        "stops at its next step: a model's answer being streamed stops at once, but a tool call already running (an "
        "ask_knowbase waiting on the chat model) finishes first, so it may take as long as that call.",
        request=None,
        responses={
            200: OpenApiResponse(RunDetailSerializer, description="Cancelled"),
            202: OpenApiResponse(RunDetailSerializer, description="Running: asked to stop"),
            **error_responses(
                {**NOT_SIGNED_IN, **NO_RUN_404, 409: "The run has already finished (error_code run_finished)"}
            ),
        },
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = services.run_cancel(run=own_run(request, run_id))
        code = status.HTTP_200_OK if run.status == RunStatus.CANCELLED else status.HTTP_202_ACCEPTED
        return Response(run_body(request, run), status=code)
