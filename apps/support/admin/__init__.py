"""Unfold admin for support: the ticket queue with SLA badges, each ticket's thread as a chat page (reply, internal
note, canned reply, status, priority and assignee), canned replies and categories, and import/export of tickets.

Every change to a ticket made here goes through apps.support.services, as the API's do, so that its history rows
and live events are never skipped."""

from apps.support.admin import replies, tickets

__all__ = ["replies", "tickets"]
