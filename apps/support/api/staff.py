"""The queue for staff: list and filter tickets with their SLA clocks, read one whole (internal notes and history
included), reply or add a note (with a canned reply), change status and priority, assign, mark read; and the canned
replies to choose from."""

from __future__ import annotations

from typing import Any, Literal

from django.db.models import Case, DateTimeField, F, QuerySet, When
from django.db.models.functions import Least
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.support import selectors, services
from apps.support.api.common import (
    ID_MAX,
    MESSAGE_PARSERS,
    NO_TICKET_404,
    PRIORITY_HELP,
    SMALL_BODY_BYTES,
    STAFF_ONLY,
    STATUS_HELP,
    TAG,
    CannedReplySerializer,
    MessageInputSerializer,
    MessageSerializer,
    ReadReceiptSerializer,
    StaffOnly,
    StaffTicketDetailSerializer,
    StaffTicketRowSerializer,
    message_body_limit,
    priority_value,
    refuse_files,
    refuse_stray_files,
    status_value,
)
from apps.support.models import FINISHED_STATUSES, CannedReply, Status, Ticket
from modules.api.schema import error_responses

UNASSIGNED = "none"
MINE = "me"
DUE = "due"
# The deadline a ticket runs against now: the first response's until staff answer (or the resolution's, if sooner),
# then the resolution's; none while that clock is paused (waiting for the customer) or once the ticket is finished.
NEXT_DUE = Case(
    When(status__in=FINISHED_STATUSES, then=None),
    When(first_responded_at__isnull=True, then=Least("first_response_due_at", "resolution_due_at")),
    When(status=Status.WAITING_FOR_CUSTOMER, then=None),
    default=F("resolution_due_at"),
    output_field=DateTimeField(),
)
ORDERINGS: dict[str, tuple[Any, ...]] = {
    DUE: (F("next_due_at").asc(nulls_last=True), F("updated_at").desc(), F("id").desc()),
    "created_at": ("created_at", "id"),
    "-created_at": (F("created_at").desc(), F("id").desc()),
    "updated_at": ("updated_at", "id"),
    "-updated_at": (F("updated_at").desc(), F("id").desc()),
}
ORDERING_HELP = (
    "due (the default: the running SLA deadline soonest first, overdue at the top; paused and finished last), "
    "created_at, -created_at, updated_at or -updated_at"
)


class QueueFilterSerializer(serializers.Serializer[Any]):
    status = serializers.CharField(required=False, max_length=24, help_text=f"One of {STATUS_HELP}")
    priority = serializers.CharField(required=False, max_length=10, help_text=f"One of {PRIORITY_HELP}")
    assignee = serializers.RegexField(
        r"^(none|me|[1-9][0-9]{0,17})$",
        required=False,
        help_text="A staff member's id, me for the caller's tickets, or none for unassigned tickets",
        error_messages={"invalid": "Give a user id, me, or none for unassigned tickets."},
    )
    breached = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="true: an SLA target was missed; false: none was"
    )
    category = serializers.IntegerField(min_value=1, max_value=ID_MAX, required=False, help_text="A category id")
    q = serializers.CharField(
        required=False, max_length=200, help_text="Words in the subject or the requester's email, or a ticket number"
    )
    ordering = serializers.CharField(required=False, max_length=20, help_text=ORDERING_HELP)

    def validate_status(self, value: str) -> str:
        return status_value(value)

    def validate_priority(self, value: str) -> str:
        return priority_value(value)

    def validate_ordering(self, value: str) -> str:
        if value not in ORDERINGS:
            raise serializers.ValidationError(f"{value!r} is not an ordering; use {ORDERING_HELP}.")
        return value


class StaffReplySerializer(MessageInputSerializer):
    internal = serializers.BooleanField(
        required=False, default=False, help_text="An internal note: only staff see it, nothing on the ticket changes"
    )
    canned_reply = serializers.IntegerField(
        min_value=1,
        max_value=ID_MAX,
        required=False,
        allow_null=True,
        default=None,
        help_text="An active canned reply's id (GET /api/support/canned-replies/): its text, filled in, comes first",
    )


class TicketStatusSerializer(serializers.Serializer[Any]):
    # A plain string checked here: a choice field named status would give the schema a second enum of that name.
    status = serializers.CharField(max_length=24, help_text=f"The new status: {STATUS_HELP}")

    def validate_status(self, value: str) -> str:
        return status_value(value)


class TicketPrioritySerializer(serializers.Serializer[Any]):
    priority = serializers.CharField(max_length=10, help_text=f"The new priority: {PRIORITY_HELP}")

    def validate_priority(self, value: str) -> str:
        return priority_value(value)


class TicketAssignSerializer(serializers.Serializer[Any]):
    assignee = serializers.IntegerField(
        min_value=1, max_value=ID_MAX, allow_null=True, help_text="An active staff member's id; null to unassign"
    )


def assignee_filter(value: str | None, *, me: Any) -> int | Literal["none"] | None:
    if value is None:
        return None
    if value == UNASSIGNED:
        return "none"
    return int(me.pk) if value == MINE else int(value)


def ticket_body(ticket: Ticket) -> Any:
    context = {
        "messages": selectors.ticket_messages(ticket=ticket, include_internal=True),
        "history": selectors.ticket_history(ticket=ticket),
        "unread": selectors.unread_count(ticket=ticket, side="staff"),
    }
    return StaffTicketDetailSerializer(ticket, context=context).data


def ticket_of(number: int) -> Ticket:
    return selectors.staff_ticket_get(number=number)


class StaffView(APIView):
    permission_classes = (StaffOnly,)
    max_body_bytes = SMALL_BODY_BYTES


class QueueView(generics.ListAPIView[Ticket]):
    permission_classes = (StaffOnly,)
    serializer_class = StaffTicketRowSerializer
    max_body_bytes = SMALL_BODY_BYTES

    def get_queryset(self) -> QuerySet[Ticket]:
        filters = QueueFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        tickets = selectors.staff_queue(
            status=values.get("status"),
            priority=values.get("priority"),
            assignee=assignee_filter(values.get("assignee"), me=self.request.user),
            breached=values.get("breached"),
            category_id=values.get("category"),
            q=values.get("q"),
        )
        tickets = tickets.annotate(next_due_at=NEXT_DUE).order_by(*ORDERINGS[values.get("ordering", DUE)])
        return selectors.unread_annotated(tickets, side="staff")

    @extend_schema(
        tags=[TAG],
        summary="The ticket queue",
        description=(
            "Every ticket, paginated, with its SLA clocks (due times, breach flags, paused), requester, assignee and "
            "the customer's messages staff have not read. Filters: status, priority, assignee (an id, me or none), "
            "breached, category, q (subject, requester email or number). Ordered by the SLA falling due first, or "
            "by `ordering`. Staff with the support view permission."
        ),
        parameters=[QueueFilterSerializer],
        responses={
            200: StaffTicketRowSerializer(many=True),
            **error_responses({400: "Bad filter", **STAFF_ONLY, 404: "No such page"}),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class StaffTicketView(StaffView):
    @extend_schema(
        tags=[TAG],
        summary="Read a ticket (staff)",
        description="The ticket with everything: its SLA clocks, every message oldest first with internal notes "
        "(`internal: true`), and the history of changes. Staff with the support view permission.",
        responses={200: StaffTicketDetailSerializer, **error_responses({**STAFF_ONLY, **NO_TICKET_404})},
    )
    def get(self, request: Request, number: int) -> Response:
        return Response(ticket_body(ticket_of(number)))


class StaffMessagesView(StaffView):
    parser_classes = MESSAGE_PARSERS
    max_body_bytes = staticmethod(message_body_limit)  # type: ignore[assignment]  # a limit read per request

    @extend_schema(
        tags=[TAG],
        summary="Reply, or add an internal note",
        description=(
            "JSON, or multipart/form-data with files (the `files` field repeated). A public reply moves the ticket to "
            "waiting_for_customer (pausing the resolution clock), stops the first response clock and emails the "
            "requester; an internal note (`internal: true`) changes nothing, emails nobody and is never shown to the "
            "customer. `canned_reply` puts the canned text (filled in) first, then `body`. A closed ticket takes no "
            "public reply (409: reopen it first). Staff with the support change permission."
        ),
        request={"application/json": StaffReplySerializer, "multipart/form-data": StaffReplySerializer},
        responses={
            201: OpenApiResponse(MessageSerializer, description="The message or note"),
            **error_responses(
                {
                    400: "A bad field, an unknown canned reply; too many files, or one too large, empty or of a kind "
                    "not accepted (the message names it)",
                    **STAFF_ONLY,
                    **NO_TICKET_404,
                    409: "The ticket is closed",
                    413: "The body is too large",
                }
            ),
        },
    )
    def post(self, request: Request, number: int) -> Response:
        ticket = ticket_of(number)
        refuse_stray_files(request)
        serializer = StaffReplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        message = services.staff_reply(
            ticket=ticket,
            author=request.user,
            body=values["body"],
            internal=values["internal"],
            canned_reply_id=values["canned_reply"],
            files=values["files"],
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class StaffStatusView(StaffView):
    @extend_schema(
        tags=[TAG],
        summary="Change a ticket's status",
        description="To open, waiting_for_customer, waiting_for_staff, resolved or closed; a closed ticket can only "
        "be reopened (open), and no ticket goes back to new: a refused move is a 409 naming the statuses allowed. "
        "The same status again changes nothing. Staff with the support change permission.",
        request=TicketStatusSerializer,
        responses={
            200: StaffTicketDetailSerializer,
            **error_responses(
                {400: "Not a status", **STAFF_ONLY, **NO_TICKET_404, 409: "Not allowed from the ticket's status"}
            ),
        },
    )
    def post(self, request: Request, number: int) -> Response:
        ticket = ticket_of(number)
        serializer = TicketStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket = services.ticket_set_status(
            ticket=ticket, actor=request.user, status=serializer.validated_data["status"]
        )
        return Response(ticket_body(ticket))


class StaffPriorityView(StaffView):
    @extend_schema(
        tags=[TAG],
        summary="Change a ticket's priority",
        description="Both SLA due times are counted again from the ticket's creation for the new priority (the "
        "resolution clock's pauses still count). Staff with the support change permission.",
        request=TicketPrioritySerializer,
        responses={
            200: StaffTicketDetailSerializer,
            **error_responses({400: "Not a priority", **STAFF_ONLY, **NO_TICKET_404}),
        },
    )
    def post(self, request: Request, number: int) -> Response:
        ticket = ticket_of(number)
        serializer = TicketPrioritySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket = services.ticket_set_priority(
            ticket=ticket, actor=request.user, priority=serializer.validated_data["priority"]
        )
        return Response(ticket_body(ticket))


class StaffAssignView(StaffView):
    @extend_schema(
        tags=[TAG],
        summary="Assign a ticket",
        description="To an active staff member (who is emailed, by a task, unless they took it themselves), or to "
        "no one with null. The customer is not told who. Staff with the support change permission.",
        request=TicketAssignSerializer,
        responses={
            200: StaffTicketDetailSerializer,
            **error_responses({400: "No such user, or not an active staff member", **STAFF_ONLY, **NO_TICKET_404}),
        },
    )
    def post(self, request: Request, number: int) -> Response:
        ticket = ticket_of(number)
        serializer = TicketAssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket = services.ticket_assign(
            ticket=ticket, actor=request.user, assignee_id=serializer.validated_data["assignee"]
        )
        return Response(ticket_body(ticket))


class StaffReadView(StaffView):
    @extend_schema(
        tags=[TAG],
        summary="Mark the customer's messages read",
        description="Every message of the customer on the ticket not yet read by staff is marked read now (the "
        "customer sees a read receipt). No body. Staff with the support change permission.",
        request=None,
        responses={200: ReadReceiptSerializer, **error_responses({**STAFF_ONLY, **NO_TICKET_404})},
    )
    def post(self, request: Request, number: int) -> Response:
        ticket = ticket_of(number)
        refuse_files(request)
        marked = services.ticket_mark_read(ticket=ticket, reader=request.user, side="staff")
        return Response({"marked": marked})


class CannedReplyListView(generics.ListAPIView[CannedReply]):
    permission_classes = (StaffOnly,)
    serializer_class = CannedReplySerializer
    max_body_bytes = SMALL_BODY_BYTES

    def get_queryset(self) -> QuerySet[CannedReply]:
        return selectors.active_canned_replies()

    @extend_schema(
        tags=[TAG],
        summary="List canned replies",
        description="The active canned replies, by title, paginated; send one's id as `canned_reply` with a reply. "
        "Staff add them in the admin. Staff with the support view permission.",
        responses={
            200: CannedReplySerializer(many=True),
            **error_responses({**STAFF_ONLY, 404: "No such page"}),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
