"""The ticket page as a chat: the thread (the customer on one side, staff on the other, internal notes marked), the
reply box with its internal-note switch and canned replies, the status, priority and assignee controls, the SLA and
the history. Opening it marks the customer's messages read by staff (when the viewer may change tickets).

Each control is a plain form posted to the page (CSRF, support.change_ticket) that calls its service and redirects
back: the page works without JavaScript. support/chat.js adds the canned-reply picker and follows the ticket's staff
event stream (apps.support.api.live) to append new messages and status changes without a reload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponseBadRequest, HttpResponseBase, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.support import events, selectors, services
from apps.support.admin.forms import AssignForm, PriorityForm, ReplyForm, StatusForm
from apps.support.admin.queue import BADGE_VARIANTS, PRIORITY_LABELS, STATUS_LABELS, sla_badge
from apps.support.exceptions import SupportError
from apps.support.models import Audience, Priority, Status, Ticket

STAFF_AUDIENCES = (Audience.PUBLIC, Audience.STAFF)


def staff_events_url(ticket: Ticket) -> str:
    """The ticket's staff event stream, or "" where the live views are not routed (the page then works without)."""
    try:
        return reverse("support:staff-ticket-events", kwargs={"number": ticket.number})
    except NoReverseMatch:
        return ""


class ChatPage:
    def __init__(self, request: HttpRequest, ticket: Ticket, *, may_change: bool) -> None:
        self.request = request
        self.ticket = ticket
        self.may_change = may_change
        self.status = 200
        self.reply_form = ReplyForm()
        self.status_form = StatusForm(ticket=ticket)
        self.priority_form = PriorityForm(initial={"priority": ticket.priority})
        self.assign_form = AssignForm(initial={"assignee": ticket.assignee_id})

    @property
    def url(self) -> str:
        return reverse("admin:support_ticket_chat", args=[self.ticket.pk])

    def opened(self) -> None:
        services.ticket_mark_read(ticket=self.ticket, reader=self.request.user, side="staff")

    def post(self) -> HttpResponseBase | None:
        """The control posted: its service called and a redirect back, or None with its form showing the errors."""
        handlers: dict[str, Callable[[], HttpResponseBase | None]] = {
            "reply": self._reply,
            "status": self._status,
            "priority": self._priority,
            "assign": self._assign,
        }
        handler = handlers.get(self.request.POST.get("op", ""))
        if handler is None:
            return HttpResponseBadRequest("Unknown change: send op=reply, status, priority or assign.")
        return handler()

    def _done(self, text: str, anchor: str = "") -> HttpResponseRedirect:
        messages.success(self.request, text)
        return HttpResponseRedirect(f"{self.url}{anchor}")

    def _call(self, form: forms.Form, change: Callable[[], Any]) -> Any:
        """The service's answer, or None with its refusal shown on the form."""
        try:
            return change()
        except SupportError as error:
            field = error.field if error.field in form.fields else None
            form.add_error(field, error.message)
            return None

    def _reply(self) -> HttpResponseBase | None:
        form = self.reply_form = ReplyForm(self.request.POST, self.request.FILES)
        if not form.is_valid():
            return None
        canned = form.cleaned_data["canned_reply"]
        internal = bool(form.cleaned_data["internal"])
        message = self._call(
            form,
            lambda: services.staff_reply(
                ticket=self.ticket,
                author=self.request.user,
                body=form.cleaned_data["body"],
                internal=internal,
                canned_reply_id=canned.pk if canned is not None else None,
                files=form.cleaned_data["attachments"],
            ),
        )
        if message is None:
            return None
        return self._done("Internal note added." if internal else "Reply sent.", f"#message-{message.pk}")

    def _status(self) -> HttpResponseBase | None:
        form = self.status_form = StatusForm(self.request.POST, ticket=self.ticket)
        if not form.is_valid():
            return None
        status = form.cleaned_data["status"]
        changed = self._call(
            form, lambda: services.ticket_set_status(ticket=self.ticket, actor=self.request.user, status=status)
        )
        return self._done(f"Status: {Status(status).label}.") if changed else None

    def _priority(self) -> HttpResponseBase | None:
        form = self.priority_form = PriorityForm(self.request.POST)
        if not form.is_valid():
            return None
        priority = form.cleaned_data["priority"]
        changed = self._call(
            form, lambda: services.ticket_set_priority(ticket=self.ticket, actor=self.request.user, priority=priority)
        )
        return self._done(f"Priority: {Priority(priority).label}.") if changed else None

    def _assign(self) -> HttpResponseBase | None:
        data = self.request.POST.copy()
        if "to_me" in data:
            data["assignee"] = str(self.request.user.pk)
        form = self.assign_form = AssignForm(data)
        if not form.is_valid():
            return None
        assignee = form.cleaned_data["assignee"]
        changed = self._call(
            form,
            lambda: services.ticket_assign(
                ticket=self.ticket, actor=self.request.user, assignee_id=assignee.pk if assignee else None
            ),
        )
        if not changed:
            return None
        return self._done(f"Assigned to {assignee}." if assignee else "Unassigned.")

    def context(self) -> dict[str, Any]:
        ticket = self.ticket
        # The cursor first, then the thread: an event written in between is replayed by the stream, and the page
        # drops a message it already shows.
        last_event = selectors.last_event_id(ticket_id=ticket.pk, audiences=STAFF_AUDIENCES)
        thread = [
            events.message_data(message) for message in selectors.ticket_messages(ticket=ticket, include_internal=True)
        ]
        canned = []
        if self.may_change:
            for reply in selectors.active_canned_replies():
                text = services.canned_text(canned_reply_id=reply.pk, ticket=ticket, agent=self.request.user)
                canned.append({"id": reply.pk, "title": reply.title, "text": text})
        badge, badge_text = sla_badge(ticket, now=timezone.now())
        return {
            "ticket": ticket,
            "thread": thread,
            "history": list(selectors.ticket_history(ticket=ticket)),
            "last_event": last_event,
            "events_url": staff_events_url(ticket),
            "may_change": self.may_change,
            "reply_form": self.reply_form,
            "status_form": self.status_form,
            "priority_form": self.priority_form,
            "assign_form": self.assign_form,
            "canned": canned,
            "sla_badge": {"variant": BADGE_VARIANTS[badge], "text": badge_text},
            "status_variant": STATUS_LABELS.get(ticket.status, "default"),
            "priority_variant": PRIORITY_LABELS.get(ticket.priority, "default"),
        }
