"""The events live clients follow: each is a TicketEvent row written in the transaction of the change it tells of,
and published once that transaction commits (modules.api.broadcast; apps.support.live serves the streams).

Two audiences, kept apart by construction: PUBLIC events go to the ticket's customer and to staff; STAFF events (an
internal note, and anything only staff may know) go to staff only. A payload is built here, from the row, by one
function per kind, so that the API's answers and the events show a message the same way."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from apps.support.models import Attachment, Audience, Message, Ticket, TicketEvent
from modules.api import broadcast


def channel_for_ticket(ticket_id: int, audience: str) -> str:
    """The pub/sub channel of one ticket's events for one audience: a customer's stream listens to the public one
    only, so a staff event never even reaches the process side of a customer's connection."""
    return f"support:ticket:{ticket_id}:{audience}"


QUEUE_CHANNEL = "support:queue"
"""Every event of every ticket, for the staff queue's stream."""


def person_name(user: Any, *, fallback: str) -> str:
    """The name a person gave, else `fallback`: never their email address or phone (get_full_name falls back to
    those), which would show a staff member's address to every customer they answer."""
    if user is None:
        return fallback
    return f"{user.first_name} {user.last_name}".strip() or fallback


def attachment_data(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.token,
        "name": attachment.name,
        "kind": attachment.kind,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "url": reverse("support:attachment", kwargs={"token": attachment.token}),
    }


def message_data(message: Message) -> dict[str, Any]:
    """A message as the API and the events show it. Staff authors are shown by name to both sides; a customer's
    own messages by theirs. Internal notes carry `internal: true` and are only ever built for staff."""
    return {
        "id": message.pk,
        "ticket": message.ticket.number,
        "body": message.body,
        "internal": message.internal,
        "from_staff": message.from_staff,
        "author": person_name(message.author, fallback="Support" if message.from_staff else "Customer"),
        "created_at": message.created_at,
        "read_by_customer_at": message.read_by_customer_at,
        "read_by_staff_at": message.read_by_staff_at,
        "attachments": [attachment_data(attachment) for attachment in message.attachments.all()],
    }


def ticket_state(ticket: Ticket) -> dict[str, Any]:
    """What a ticket's status event carries: the fields both sides see change."""
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "updated_at": ticket.updated_at,
    }


def record_event(ticket: Ticket, kind: str, data: dict[str, Any], *, audience: str) -> TicketEvent:
    """Writes the event in the current transaction and publishes it when that commits (never for a change that was
    rolled back). `audience` is Audience.PUBLIC or Audience.STAFF: say STAFF for anything an internal note wrote."""
    if audience not in Audience.values:
        raise ValueError(f"audience {audience!r} is not one of {Audience.values}")
    event = TicketEvent.objects.create(ticket=ticket, kind=kind, audience=audience, data=data)
    transaction.on_commit(lambda: publish_event(event, ticket.number), robust=True)
    return event


def publish_event(event: TicketEvent, ticket_number: int) -> None:
    """To the streams of the ticket for the event's audience, and to the staff queue's."""
    envelope = event_envelope(event, ticket_number)
    redis_url = settings.SUPPORT["EVENTS_REDIS_URL"]
    broadcast.publish(channel_for_ticket(event.ticket_id, event.audience), envelope, redis_url=redis_url)
    broadcast.publish(QUEUE_CHANNEL, envelope, redis_url=redis_url)


def event_envelope(event: TicketEvent, ticket_number: int) -> dict[str, Any]:
    """What a client receives for one event (SSE's data, one item of the polling answer)."""
    return {
        "id": event.pk,
        "ticket": ticket_number,
        "kind": event.kind,
        "audience": event.audience,
        "data": event.data,
        "created_at": event.created_at,
    }
