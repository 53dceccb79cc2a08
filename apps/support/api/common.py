"""What the support API's resources share: the staff-only gate, the body limits, the throttle answers, and the
serializers of tickets, messages (the shape of events.message_data), categories, canned replies and history."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import Throttled
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request

from apps.support import events, selectors, services
from apps.support.models import SUBJECT_MAX, CannedReply, Category, Message, Priority, Status, Ticket, TicketChange
from modules.api.errors import JSONParser
from modules.api.permissions import StaffWithModelPermissions

TAG = "support"
NOT_SIGNED_IN = {401: "Not signed in"}
STAFF_ONLY = {401: "Not signed in", 403: "Not a staff member, or one without the support permissions"}
NO_TICKET_404 = {404: "No such ticket (for a customer: or not one of theirs)"}
STATUS_HELP = ", ".join(Status.values)
PRIORITY_HELP = ", ".join(Priority.values)
# A status, a priority, an id or nothing at all in JSON: anything larger is refused unread (cfg.body_limit).
SMALL_BODY_BYTES = 16 * 1024
# A message in JSON written with ASCII escapes takes up to 12 bytes per character (an emoji as a surrogate pair,
# "\ud83d\ude00"); a multipart body adds each file's part headers and boundaries.
JSON_BYTES_PER_CHAR = 12
MESSAGE_EXTRA_BYTES = 16 * 1024
PART_EXTRA_BYTES = 1024
# Files only where a message is written (a new ticket, a reply, a note): elsewhere an upload is a 415 unread.
MESSAGE_PARSERS = (JSONParser, MultiPartParser, FormParser)
# Ids are bigints in the database: a larger number is a 400 here rather than an error there.
ID_MAX = 2**63 - 1


def message_body_limit() -> int:
    """The largest body of a message (a new ticket, a reply, a note): the longest text however it is escaped, the
    subject, and ATTACHMENTS_PER_MESSAGE files of ATTACHMENT_MAX_BYTES. More is refused unread (413); a body within
    it whose files are too many or too large gets the service's own answer (400)."""
    conf = settings.SUPPORT
    files = int(conf["ATTACHMENTS_PER_MESSAGE"]) * (int(conf["ATTACHMENT_MAX_BYTES"]) + PART_EXTRA_BYTES)
    text = (int(conf["BODY_MAX_CHARS"]) + SUBJECT_MAX) * JSON_BYTES_PER_CHAR
    return files + text + MESSAGE_EXTRA_BYTES


class StaffOnly(StaffWithModelPermissions):
    """Staff members who work on support, as in the admin: reading takes the view permission, a change (a reply, a
    note, a status, a priority, an assignee, a read receipt) the change permission. Staff of other teams are
    refused."""

    message = "Only staff members may use the support queue."
    view_permission = selectors.VIEW_PERMISSION
    change_permission = selectors.CHANGE_PERMISSION
    team = "support"
    records = "tickets"


class ThrottledMessages:
    """A throttled message (a POST) answered in words of the endpoint (`throttled_message`), with Retry-After."""

    throttled_message = "Too many requests: try again later."

    def throttled(self, request: Request, wait: float) -> NoReturn:
        raise Throttled(wait, detail=self.throttled_message if request.method == "POST" else None)


def as_event_json(data: dict[str, Any]) -> dict[str, Any]:
    """`data` as an event carries it (the DjangoJSONEncoder's times): a message in an answer and in an event read
    the same, to the character."""
    value: dict[str, Any] = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    return value


def status_value(value: str) -> str:
    if value not in Status.values:
        raise serializers.ValidationError(f"{value!r} is not a status; the statuses are {STATUS_HELP}.")
    return value


def priority_value(value: str) -> str:
    if value not in Priority.values:
        raise serializers.ValidationError(f"{value!r} is not a priority; the priorities are {PRIORITY_HELP}.")
    return value


def refuse_files(request: Request) -> None:
    """For the endpoints that take no body: reading it makes an upload the parsers' 415, not a body ignored."""
    if request.FILES:
        raise serializers.ValidationError("This request takes no files.")


def refuse_stray_files(request: Request) -> None:
    """Files under any other field than `files` would be dropped unseen: the request is refused instead."""
    stray = sorted(name for name in request.FILES if name != "files")
    if stray:
        raise serializers.ValidationError({name: ["Send files in the `files` field (repeated)."] for name in stray})


class ReadReceiptSerializer(serializers.Serializer[Any]):
    marked = serializers.IntegerField(help_text="Messages marked read now (0: all were read already)")


class SupportPersonSerializer(serializers.Serializer[Any]):
    """A person as staff see them (requesters, assignees, actors)."""

    id = serializers.IntegerField()
    email = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    name = serializers.CharField(source="get_full_name")


class TicketCategorySerializer(serializers.ModelSerializer[Category]):
    class Meta:
        model = Category
        fields = ("id", "name")
        read_only_fields = fields


class CannedReplySerializer(serializers.ModelSerializer[CannedReply]):
    body = serializers.CharField(
        read_only=True,
        help_text="May use $requester_name, $ticket_number, $subject and $agent_name: filled in when sent with "
        "canned_reply",
    )

    class Meta:
        model = CannedReply
        fields = ("id", "title", "body")
        read_only_fields = fields


class AttachmentSerializer(serializers.Serializer[Any]):
    """An attachment as events.attachment_data shows it."""

    id = serializers.CharField(help_text="The attachment's token")
    name = serializers.CharField(help_text="The name it was uploaded with (sanitised)")
    kind = serializers.CharField(help_text="Recognised by its content: png, jpeg, gif, webp, pdf or txt")
    content_type = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes")
    url = serializers.CharField(help_text="Where to download it (signed in, as someone who may see the ticket)")


class MessageSerializer(serializers.Serializer[Message]):
    """A message as events.message_data shows it, in answers and in events alike."""

    id = serializers.IntegerField()
    ticket = serializers.IntegerField(help_text="The ticket's number")
    body = serializers.CharField()
    internal = serializers.BooleanField(help_text="An internal note (only ever shown to staff)")
    from_staff = serializers.BooleanField()
    author = serializers.CharField(help_text="The author's name")
    created_at = serializers.DateTimeField()
    read_by_customer_at = serializers.DateTimeField(allow_null=True)
    read_by_staff_at = serializers.DateTimeField(allow_null=True)
    attachments = AttachmentSerializer(many=True)

    def to_representation(self, instance: Message) -> dict[str, Any]:
        return as_event_json(events.message_data(instance))


class TicketSerializer(serializers.ModelSerializer[Ticket]):
    """A ticket as its customer sees it: its state, never the SLA clocks or who works on it. `unread` is declared by
    the subclasses: annotated in lists, counted for one ticket."""

    # Plain strings: a choice field named status would give the schema a second enum of that name (tasks has one).
    status = serializers.CharField(read_only=True, help_text=STATUS_HELP)
    priority = serializers.CharField(read_only=True, help_text=PRIORITY_HELP)
    category = TicketCategorySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Ticket
        fields: tuple[str, ...] = (
            "number",
            "subject",
            "status",
            "priority",
            "category",
            "created_at",
            "updated_at",
            "unread",
        )
        read_only_fields = fields


UNREAD_HELP = "Messages from the other side not yet read"


class TicketRowSerializer(TicketSerializer):
    """A ticket in the customer's list: `unread` annotated by the list's query (selectors.unread_annotated)."""

    unread = serializers.IntegerField(read_only=True, help_text=UNREAD_HELP)


class ThreadMixin(serializers.Serializer[Ticket]):
    """A whole ticket: the unread count and the thread come in the context (`unread`, `messages`), read by the view
    with the selectors that decide who sees what (a customer never gets internal notes)."""

    unread = serializers.SerializerMethodField(help_text=UNREAD_HELP)
    messages = serializers.SerializerMethodField(help_text="Oldest first")

    @extend_schema_field(serializers.IntegerField())
    def get_unread(self, ticket: Ticket) -> int:
        return int(self.context["unread"])

    @extend_schema_field(MessageSerializer(many=True))
    def get_messages(self, ticket: Ticket) -> list[dict[str, Any]]:
        return [MessageSerializer(message).data for message in self.context["messages"]]


class TicketDetailSerializer(ThreadMixin, TicketSerializer):
    class Meta(TicketSerializer.Meta):
        fields = (*TicketSerializer.Meta.fields, "messages")
        read_only_fields = fields


class TicketChangeSerializer(serializers.ModelSerializer[TicketChange]):
    actor = SupportPersonSerializer(
        read_only=True, allow_null=True, help_text="None: the system (SLA check, auto-close)"
    )

    class Meta:
        model = TicketChange
        fields = ("id", "field", "old_value", "new_value", "actor", "created_at")
        read_only_fields = fields


class StaffTicketSerializer(TicketSerializer):
    """A ticket as staff see it: with who asked, who works on it, and the SLA clocks."""

    requester = SupportPersonSerializer(read_only=True)
    assignee = SupportPersonSerializer(read_only=True, allow_null=True)
    paused = serializers.SerializerMethodField(help_text="The resolution clock is paused (waiting for the customer)")
    breached = serializers.BooleanField(read_only=True, help_text="Either SLA target was missed")

    class Meta(TicketSerializer.Meta):
        fields = (
            *TicketSerializer.Meta.fields,
            "requester",
            "assignee",
            "first_response_due_at",
            "first_responded_at",
            "first_response_breached",
            "resolution_due_at",
            "resolution_breached",
            "breached",
            "paused",
            "paused_at",
            "paused_seconds",
            "resolved_at",
            "closed_at",
            "last_customer_message_at",
            "last_staff_message_at",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_paused(self, ticket: Ticket) -> bool:
        return ticket.paused_at is not None


class StaffTicketRowSerializer(StaffTicketSerializer):
    """A ticket in the queue: `unread` annotated by the queue's query (selectors.unread_annotated)."""

    unread = serializers.IntegerField(read_only=True, help_text=UNREAD_HELP)


class StaffTicketDetailSerializer(ThreadMixin, StaffTicketSerializer):
    """The whole ticket for staff: every message, internal notes included (marked `internal`), and the history
    (`history` in the context)."""

    history = serializers.SerializerMethodField(help_text="Every change, oldest first")
    next_statuses = serializers.SerializerMethodField(help_text="The statuses staff may move the ticket to now")

    @extend_schema_field(TicketChangeSerializer(many=True))
    def get_history(self, ticket: Ticket) -> Any:
        return TicketChangeSerializer(self.context["history"], many=True).data

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_next_statuses(self, ticket: Ticket) -> list[str]:
        return [str(status) for status in services.allowed_targets(ticket.status)]

    class Meta(StaffTicketSerializer.Meta):
        fields = (*StaffTicketSerializer.Meta.fields, "next_statuses", "messages", "history")
        read_only_fields = fields


class FilesField(serializers.ListField):
    def to_internal_value(self, data: Any) -> list[Any]:
        # A browser sends a file input left empty as a part without a file name, which arrives as "": nothing was
        # attached (and a form with an optional file input must still send its text).
        if isinstance(data, list):
            data = [item for item in data if item != ""]
        return super().to_internal_value(data)


def files_field() -> serializers.ListField:
    return FilesField(
        child=serializers.FileField(allow_empty_file=True),
        required=False,
        default=list,
        help_text="Files to attach (multipart/form-data, the field repeated): PNG, JPEG, GIF, WebP, PDF or plain "
        "text, recognised by their content; at most SUPPORT__ATTACHMENTS_PER_MESSAGE of SUPPORT__ATTACHMENT_MAX_BYTES",
    )


class MessageInputSerializer(serializers.Serializer[Any]):
    """What every message takes: its text and files. The count is checked here (a 400 before any is read); their
    size and kind by the service, from their content."""

    body = serializers.CharField(
        required=False, default="", allow_blank=True, trim_whitespace=False, help_text="The message"
    )
    files = files_field()

    def validate_files(self, value: list[Any]) -> list[Any]:
        most = int(settings.SUPPORT["ATTACHMENTS_PER_MESSAGE"])
        if len(value) > most:
            raise serializers.ValidationError(f"Attach at most {most} files to one message; this one has {len(value)}.")
        return value
