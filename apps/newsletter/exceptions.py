"""The errors of the newsletter. Services raise them; the API's exception handler (modules.api.errors) answers each
with its status and message, so views never catch them."""

from __future__ import annotations

from modules.api.exceptions import ServiceError


class NewsletterError(ServiceError):
    """The base of every error of the newsletter."""


class LinkNoLongerValid(NewsletterError):
    """The link was made for a subscriber who has since deleted their data."""

    status_code = 400
    code = "link_no_longer_valid"
    message = "This link is no longer valid: the address it was made for is no longer on our lists."


class NotSubscribed(NewsletterError):
    """The signed-in user has no subscriber: none linked to the account, none with its email address."""

    status_code = 404
    code = "not_subscribed"
    message = (
        "Your account has no newsletter subscriptions (none linked to it, none for its email address). "
        "Subscribe with POST /api/newsletter/subscribe/."
    )


class ThrottleUnavailable(NewsletterError):
    """The throttle store (Redis) cannot count: a subscription is refused rather than let through uncounted."""

    status_code = 503
    code = "throttle_unavailable"
    message = "Subscribing is briefly unavailable: the store that limits it (Redis) cannot be reached. Try again."


# --- Campaigns ------------------------------------------------------------------------------------------------------


class CampaignTemplateInvalid(NewsletterError):
    """A subject or body that is not a valid Django template, or that fails when rendered: refused when saved or
    previewed, so that it never fails in the middle of a send."""

    code = "invalid_template"
    message = "The template is not valid."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CampaignStateConflict(NewsletterError):
    """The campaign's status does not allow this (editing a sent campaign, pausing a draft, ...)."""

    status_code = 409
    code = "campaign_state"
    message = "The campaign's status does not allow this."


class CampaignScheduleInvalid(NewsletterError):
    code = "invalid_schedule"
    message = "Schedule the campaign for a time in the future."
    field = "scheduled_at"


class CampaignWithoutRecipients(NewsletterError):
    status_code = 409
    code = "no_recipients"
    message = "The campaign's list has no confirmed, unsuppressed subscriber: there is nobody to send it to."


class TestSendFailed(NewsletterError):
    """The mail server refused the test message or could not be reached."""

    __test__ = False  # not a pytest test class, whatever its name
    status_code = 503
    code = "test_send_failed"
    message = "The test could not be sent: the mail server refused it or could not be reached."
