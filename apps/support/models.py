"""Support tickets: the ticket with its SLA clocks, the thread of messages (public replies and internal notes) with
their attachments and read receipts, the history of every change, the ordered events that live clients follow, and
canned replies.

Statuses: a customer opens a ticket (new). A staff member's public reply moves it to waiting_for_customer, which
pauses the resolution clock; the customer's reply moves it to waiting_for_staff (and reopens a resolved ticket). Staff
may set open, resolved or closed by hand; a resolved ticket left untouched for SUPPORT__AUTO_CLOSE_DAYS is closed by
a periodic task. Closed is final for the customer (a reply there is refused: open a new ticket); staff may reopen it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

SUBJECT_MAX = 200
ATTACHMENT_NAME_MAX = 200


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    WAITING_FOR_CUSTOMER = "waiting_for_customer", "Waiting for customer"
    WAITING_FOR_STAFF = "waiting_for_staff", "Waiting for staff"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


# Not yet resolved: the SLA clocks run (the resolution clock pauses while waiting for the customer).
ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING_FOR_CUSTOMER, Status.WAITING_FOR_STAFF)
FINISHED_STATUSES = (Status.RESOLVED, Status.CLOSED)


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Audience(models.TextChoices):
    """Who may receive an event: the customer and staff (public), or staff only (internal notes and what they say)."""

    PUBLIC = "public", "Customer and staff"
    STAFF = "staff", "Staff only"


def private_storage() -> Storage:
    """Attachments are served only by the app's own view, to people who may see their ticket: never from MEDIA."""
    return storages["private"]


def attachment_path(instance: Attachment, filename: str) -> str:
    # The stored name is random: the original name is kept on the row, never trusted as a path.
    return f"support/{instance.ticket_id}/{instance.sha256[:2]}/{instance.token}"


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True, help_text="Offered to customers opening a ticket")

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    # The number people quote ("#1042"), from a sequence of its own (migration 0001): not the row's id.
    number = models.BigIntegerField(
        unique=True, editable=False, db_default=models.Func(models.Value("support_ticket_number"), function="nextval")
    )
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="support_tickets")
    subject = models.CharField(max_length=SUBJECT_MAX)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    category = models.ForeignKey(Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        limit_choices_to={"is_staff": True, "is_active": True},
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # SLA: due times from SUPPORT__FIRST_RESPONSE_MINUTES / __RESOLUTION_MINUTES by priority. The resolution clock
    # pauses while the ticket waits for the customer: paused_at marks when, and on leaving that status the pause is
    # added to paused_seconds and resolution_due_at moves later by as much.
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    first_response_breached = models.BooleanField(default=False)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    resolution_breached = models.BooleanField(default=False)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_staff_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-updated_at", "-id")
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="support_ticket_status_valid"),
            models.CheckConstraint(
                condition=models.Q(priority__in=Priority.values), name="support_ticket_priority_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["requester", "-updated_at"], name="support_ticket_requester"),
            models.Index(fields=["status", "priority"], name="support_ticket_status"),
            models.Index(fields=["assignee", "status"], name="support_ticket_assignee"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"

    @property
    def breached(self) -> bool:
        return self.first_response_breached or self.resolution_breached


class Message(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_staff = models.BooleanField(help_text="Written by staff (the author may have left since)")
    internal = models.BooleanField(default=False, help_text="An internal note: staff only, never shown to customer")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Read receipts, one per side: when the other side first read this message.
    read_by_customer_at = models.DateTimeField(null=True, blank=True)
    read_by_staff_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at", "id")
        indexes = [models.Index(fields=["ticket", "created_at"], name="support_message_ticket")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(internal=True, from_staff=False), name="support_message_notes_by_staff"
            )
        ]

    def __str__(self) -> str:
        return self.body[:60]


class Attachment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    # What links name it: random, so that a link says nothing about other attachments.
    token = models.CharField(max_length=32, unique=True, editable=False)
    file = models.FileField(storage=private_storage, upload_to=attachment_path, max_length=300)
    name = models.CharField(max_length=ATTACHMENT_NAME_MAX, help_text="The name it was uploaded with")
    kind = models.CharField(max_length=10, help_text="Recognised by its content: png, jpeg, gif, webp, pdf or txt")
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.name


class TicketChange(models.Model):
    """The history: who changed what on a ticket, from what to what, and when."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="history")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    field = models.CharField(max_length=30, help_text="created, status, priority, assignee, category or subject")
    old_value = models.CharField(max_length=300, blank=True)
    new_value = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.field}: {self.old_value} → {self.new_value}"


class TicketEvent(models.Model):
    """What live clients follow, in order: its id is the cursor (SSE's Last-Event-ID, the polling endpoint's
    `since`). Written in the transaction of the change it tells of, published once that commits. A customer only
    ever receives PUBLIC events of their own tickets; an internal note and anything about it is STAFF."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, help_text="message, status, priority, assignee, read, ...")
    audience = models.CharField(max_length=10, choices=Audience.choices)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=["ticket", "audience", "id"], name="support_event_ticket")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.ticket_id}"


class CannedReply(models.Model):
    title = models.CharField(max_length=100, unique=True)
    body = models.TextField(
        help_text="May use $requester_name, $ticket_number, $subject and $agent_name; they are filled in when used"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("title",)
        verbose_name_plural = "canned replies"

    def __str__(self) -> str:
        return self.title
