"""The errors of support. Services raise them; the API's exception handler (modules.api.errors) answers each with
its status and message, so views never catch them."""

from __future__ import annotations

from rest_framework import status

from modules.api.exceptions import ServiceError


class SupportError(ServiceError):
    """The base of every error of support."""


class TicketNotFound(SupportError):
    """No such ticket, or not one of the caller's: the answer is the same, so that numbers reveal nothing."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "ticket_not_found"
    message = "No such ticket."


class AttachmentNotFound(SupportError):
    """No such attachment, or on a ticket the caller may not see, or on an internal note a customer asked for."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "attachment_not_found"
    message = "No such attachment."


class TicketClosed(SupportError):
    status_code = status.HTTP_409_CONFLICT
    code = "ticket_closed"
    message = "This ticket is closed: open a new ticket instead."


class TransitionNotAllowed(SupportError):
    status_code = status.HTTP_409_CONFLICT
    code = "transition_not_allowed"
    field = "status"


class NotStaff(SupportError):
    code = "not_staff"
    message = "Tickets are assigned to active staff members who may see tickets (support.view_ticket)."
    field = "assignee"


class AttachmentRefused(SupportError):
    """Too large, too many, empty, or of a kind not accepted (recognised by content, whatever its name says)."""

    code = "attachment_refused"
    field = "files"


class CannedReplyNotFound(SupportError):
    code = "canned_reply_not_found"
    message = "No such canned reply, or it is no longer active."
    field = "canned_reply"


class MessageInvalid(SupportError):
    code = "message_invalid"
    message = "Write a message."
    field = "body"


class SubjectInvalid(SupportError):
    code = "subject_invalid"
    message = "Write a subject."
    field = "subject"


class PriorityInvalid(SupportError):
    code = "priority_invalid"
    field = "priority"


class CategoryNotFound(SupportError):
    code = "category_not_found"
    message = "No such category, or it is no longer offered."
    field = "category"
