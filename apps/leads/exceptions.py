"""The errors of leads. Services and the submission's defences raise them; the API's exception handler
(modules.api.errors) answers each with its status and message, so views never catch them."""

from __future__ import annotations

from rest_framework import status

from modules.api.exceptions import ServiceError


class LeadsError(ServiceError):
    """The base of every error of leads."""


class FormTokenInvalid(LeadsError):
    """The signed form timestamp is missing, tampered with, too fresh (a bot) or too old."""

    code = "form_token_invalid"
    message = "The form could not be verified: reload the page and send it again."
    field = "form_token"


class TurnstileFailed(LeadsError):
    code = "turnstile_failed"
    message = "The anti-spam check failed: complete the challenge and send the form again."
    field = "turnstile_token"


class TurnstileUnavailable(LeadsError):
    """Cloudflare's verify API could not be reached or answered with an error: nothing was stored."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "turnstile_unavailable"
    message = "The anti-spam check is unavailable right now; nothing was sent. Try again in a minute."


class TransitionNotAllowed(LeadsError):
    status_code = status.HTTP_409_CONFLICT
    code = "transition_not_allowed"
    field = "status"


class NotStaff(LeadsError):
    code = "not_staff"
    message = "Leads are assigned to active staff members only."
    field = "assignee"


class ThrottleUnavailable(LeadsError):
    """The throttle store (Redis) cannot count: the submission is refused rather than let through uncounted."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "throttle_unavailable"
    message = "The form is briefly unavailable: the store that limits submissions cannot be reached. Try again shortly."
