"""The customer's side: open a ticket, list and read their own, reply, mark staff replies read, and the categories
to choose from. Only the caller's own tickets exist here: another's answers 404 exactly as a missing one, and
internal notes are never in any answer."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from apps.support import selectors, services
from apps.support.api.common import (
    ID_MAX,
    MESSAGE_PARSERS,
    NO_TICKET_404,
    NOT_SIGNED_IN,
    SMALL_BODY_BYTES,
    STATUS_HELP,
    TAG,
    MessageInputSerializer,
    MessageSerializer,
    ReadReceiptSerializer,
    ThrottledMessages,
    TicketCategorySerializer,
    TicketDetailSerializer,
    TicketRowSerializer,
    message_body_limit,
    refuse_files,
    refuse_stray_files,
    status_value,
)
from apps.support.models import SUBJECT_MAX, Category, Ticket
from apps.support.throttles import CreateThrottle, ReplyThrottle
from modules.api.schema import error_responses

MESSAGE_ERRORS = {
    400: "A bad field; too many files, or one too large, empty or of a kind not accepted (the message names it)",
    **NOT_SIGNED_IN,
    413: "The body is too large",
    429: "Too many messages sent; Retry-After says when to try again",
    503: "The store that counts messages cannot be reached; nothing was sent",
}


class TicketFilterSerializer(serializers.Serializer[Any]):
    status = serializers.CharField(required=False, max_length=24, help_text=f"Only tickets in it: {STATUS_HELP}")

    def validate_status(self, value: str) -> str:
        return status_value(value)


class TicketCreateSerializer(MessageInputSerializer):
    subject = serializers.CharField(max_length=SUBJECT_MAX)
    category = serializers.IntegerField(
        min_value=1,
        max_value=ID_MAX,
        required=False,
        allow_null=True,
        default=None,
        help_text="An active category's id (GET /api/support/categories/); none by default",
    )


def ticket_body(ticket: Ticket) -> Any:
    # The selector leaves internal notes out; they are left out here again, so that no change there can show one.
    messages = [
        message for message in selectors.ticket_messages(ticket=ticket, include_internal=False) if not message.internal
    ]
    unread = selectors.unread_count(ticket=ticket, side="customer")
    return TicketDetailSerializer(ticket, context={"messages": messages, "unread": unread}).data


class TicketListView(ThrottledMessages, generics.ListAPIView[Ticket]):
    throttled_message = "Too many tickets opened: try again later."
    serializer_class = TicketRowSerializer
    parser_classes = MESSAGE_PARSERS
    # A new ticket may carry files: the whole body is bounded before it is read (cfg.body_limit).
    max_body_bytes = staticmethod(message_body_limit)

    def get_throttles(self) -> list[BaseThrottle]:
        throttles = list(super().get_throttles())
        return [*throttles, CreateThrottle()] if self.request.method == "POST" else throttles

    def get_queryset(self) -> QuerySet[Ticket]:
        filters = TicketFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        tickets = selectors.customer_tickets(user=self.request.user).select_related("category")
        wanted = filters.validated_data.get("status")
        if wanted:
            tickets = tickets.filter(status=wanted)
        return selectors.unread_annotated(tickets, side="customer")

    @extend_schema(
        tags=[TAG],
        summary="List my tickets",
        description="The signed-in user's own tickets, latest activity first, paginated; `status` keeps one status. "
        "`unread` counts the staff replies not yet read.",
        parameters=[TicketFilterSerializer],
        responses={
            200: TicketRowSerializer(many=True),
            **error_responses({400: "Bad filter", **NOT_SIGNED_IN, 404: "No such page"}),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=[TAG],
        summary="Open a ticket",
        description=(
            "JSON, or multipart/form-data with files (the `files` field repeated). The body may be empty only when "
            "files are attached. Files are recognised by their content, whatever their names say: PNG, JPEG, GIF, "
            "WebP, PDF or plain text, at most SUPPORT__ATTACHMENTS_PER_MESSAGE of SUPPORT__ATTACHMENT_MAX_BYTES each. "
            "The answer is the new ticket with its first message; Location names it."
        ),
        request={
            "application/json": TicketCreateSerializer,
            "multipart/form-data": TicketCreateSerializer,
        },
        responses={
            201: OpenApiResponse(TicketDetailSerializer, description="The ticket"),
            **error_responses(MESSAGE_ERRORS),
        },
    )
    def post(self, request: Request) -> Response:
        refuse_stray_files(request)
        serializer = TicketCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        ticket = services.ticket_create(
            requester=request.user,
            subject=values["subject"],
            body=values["body"],
            category_id=values["category"],
            files=values["files"],
        )
        location = reverse("support:ticket", kwargs={"number": ticket.number})
        return Response(ticket_body(ticket), status=status.HTTP_201_CREATED, headers={"Location": location})


class TicketDetailView(APIView):
    max_body_bytes = SMALL_BODY_BYTES

    @extend_schema(
        tags=[TAG],
        summary="Read my ticket",
        description="The ticket with its messages, oldest first: the customer's and staff's public replies (never "
        "staff's internal notes). Reading it does not mark anything read: POST …/read/ does.",
        responses={200: TicketDetailSerializer, **error_responses({**NOT_SIGNED_IN, **NO_TICKET_404})},
    )
    def get(self, request: Request, number: int) -> Response:
        return Response(ticket_body(selectors.customer_ticket_get(user=request.user, number=number)))


class TicketMessagesView(ThrottledMessages, APIView):
    parser_classes = MESSAGE_PARSERS
    max_body_bytes = staticmethod(message_body_limit)
    throttled_message = "Too many messages sent: try again later."

    def get_throttles(self) -> list[BaseThrottle]:
        return [*super().get_throttles(), ReplyThrottle()]

    @extend_schema(
        tags=[TAG],
        summary="Reply on my ticket",
        description=(
            "JSON, or multipart/form-data with files (the `files` field repeated, as when opening a ticket). A reply "
            "to a resolved ticket reopens it (waiting for staff); a closed ticket takes no more replies (409: open a "
            "new one)."
        ),
        request={"application/json": MessageInputSerializer, "multipart/form-data": MessageInputSerializer},
        responses={
            201: OpenApiResponse(MessageSerializer, description="The message"),
            **error_responses({**MESSAGE_ERRORS, **NO_TICKET_404, 409: "The ticket is closed"}),
        },
    )
    def post(self, request: Request, number: int) -> Response:
        ticket = selectors.customer_ticket_get(user=request.user, number=number)
        refuse_stray_files(request)
        serializer = MessageInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        message = services.customer_reply(
            ticket=ticket, author=request.user, body=values["body"], files=values["files"]
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class TicketReadView(APIView):
    max_body_bytes = SMALL_BODY_BYTES

    @extend_schema(
        tags=[TAG],
        summary="Mark staff replies read",
        description="Every staff reply on the ticket not yet read is marked read now (staff see when: a read "
        "receipt). No body.",
        request=None,
        responses={200: ReadReceiptSerializer, **error_responses({**NOT_SIGNED_IN, **NO_TICKET_404})},
    )
    def post(self, request: Request, number: int) -> Response:
        ticket = selectors.customer_ticket_get(user=request.user, number=number)
        refuse_files(request)
        marked = services.ticket_mark_read(ticket=ticket, reader=request.user, side="customer")
        return Response({"marked": marked})


class CategoryListView(generics.ListAPIView[Category]):
    serializer_class = TicketCategorySerializer
    max_body_bytes = SMALL_BODY_BYTES

    def get_queryset(self) -> QuerySet[Category]:
        return selectors.active_categories()

    @extend_schema(
        tags=[TAG],
        summary="List categories",
        description="The categories a new ticket may be filed under, by name, paginated. Staff add them in the admin.",
        responses={200: TicketCategorySerializer(many=True), **error_responses({**NOT_SIGNED_IN, 404: "No such page"})},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
