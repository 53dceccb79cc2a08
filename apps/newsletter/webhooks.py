"""Bounces and complaints from the email provider, through django-anymail's tracking webhooks.

Each provider posts its events to /newsletter/anymail/<esp>/tracking/; anymail checks the basic-auth pair
(NEWSLETTER__WEBHOOK_SECRET, as ANYMAIL["WEBHOOK_SECRET"]) and, for Mailgun, the signature
(NEWSLETTER__MAILGUN_WEBHOOK_SIGNING_KEY), then normalises the events and sends anymail's `tracking` signal, which
suppress_undeliverable_address() receives: a hard bounce or a complaint puts the address on the suppression list and
ends its subscriptions. Soft bounces and deferrals change nothing: the provider retries them.

Two things anymail leaves open are closed here. With no secret set anymail takes calls from anyone (with a warning):
these views refuse every call until one is set. And a body anymail cannot read would raise a 500, which the provider
takes as "retry later" forever: it is answered 400, as anymail answers a failed check."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from anymail.exceptions import AnymailError, AnymailImproperlyInstalled, AnymailWebhookValidationFailure
from anymail.signals import AnymailTrackingEvent, EventType, RejectReason, tracking
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase
from django.urls import URLPattern, path
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt

from apps.newsletter.models import SuppressionReason
from apps.newsletter.services.audience import Consent, suppress_undeliverable

if TYPE_CHECKING:
    from anymail.webhooks.base import AnymailBaseWebhookView

logger = logging.getLogger(__name__)

# The providers whose tracking webhooks are mounted: URL segment -> anymail's view, and the ANYMAIL settings each
# needs besides WEBHOOK_SECRET. The views are imported by their first call: anymail's Amazon SES module alone
# imports boto3, and a web process that no provider calls need not carry any of them.
PROVIDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "postmark": ("anymail.webhooks.postmark.PostmarkTrackingWebhookView", ()),
    "mailgun": ("anymail.webhooks.mailgun.MailgunTrackingWebhookView", ("MAILGUN_WEBHOOK_SIGNING_KEY",)),
    "amazon_ses": ("anymail.webhooks.amazon_ses.AmazonSESTrackingWebhookView", ()),
    "sendgrid": ("anymail.webhooks.sendgrid.SendGridTrackingWebhookView", ()),
    "brevo": ("anymail.webhooks.brevo.BrevoTrackingWebhookView", ()),
    "mailjet": ("anymail.webhooks.mailjet.MailjetTrackingWebhookView", ()),
}
# What anymail's parsers raise on a body of the wrong shape (a missing key, text where JSON was expected).
UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, IndexError, UnicodeDecodeError, AnymailError)


def guarded(view_class: type[AnymailBaseWebhookView], required: tuple[str, ...]) -> type[AnymailBaseWebhookView]:
    """anymail's view, refusing calls while its secrets are unset, and answering an unreadable body 400."""

    class Guarded(view_class):
        def __init__(self, **kwargs: Any) -> None:
            configured = getattr(settings, "ANYMAIL", {}) or {}
            self.missing = [name for name in ("WEBHOOK_SECRET", *required) if not configured.get(name)]
            if self.missing:
                # anymail's own __init__ would warn, or raise for a missing signing key: skip it, refuse in post().
                return
            try:
                super().__init__(**kwargs)
            except AnymailImproperlyInstalled as error:
                # Amazon SES's view needs boto3 (django-anymail[amazon-ses]) to be built at all: without it, every
                # call, even an anonymous one, would be a 500 with a traceback in the logs.
                self.missing = [f"a package it needs: {str(error).splitlines()[0]}"]

        def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if self.missing:
                raise AnymailWebhookValidationFailure(
                    f"The {self.esp_name} webhook is not configured on this server ({', '.join(self.missing)})"
                )
            return super().post(request, *args, **kwargs)  # type: ignore[no-any-return]

        def run_validators(self, request: HttpRequest) -> None:
            # Some checks read the body before parse_events does (SES compares its SNS headers with it).
            try:
                super().run_validators(request)
            except AnymailWebhookValidationFailure:
                raise
            except UNREADABLE as error:
                raise AnymailWebhookValidationFailure(f"Unreadable {self.esp_name} webhook body: {error}") from error

        def parse_events(self, request: HttpRequest) -> list[Any]:
            try:
                return list(super().parse_events(request))
            except UNREADABLE as error:
                raise AnymailWebhookValidationFailure(f"Unreadable {self.esp_name} webhook body: {error}") from error

    Guarded.__name__ = Guarded.__qualname__ = f"Newsletter{view_class.__name__}"
    return Guarded


@cache
def provider_view(segment: str) -> Callable[..., HttpResponseBase]:
    """The guarded view of the provider mounted at `segment`, built on its first call."""
    view_path, required = PROVIDERS[segment]
    view: Callable[..., HttpResponseBase] = guarded(import_string(view_path), required).as_view()
    return view


def deferred_view(segment: str) -> Callable[..., HttpResponseBase]:
    # Exempt from CSRF as anymail's views are: providers post without a token.
    @csrf_exempt
    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return provider_view(segment)(request, *args, **kwargs)

    view.__name__ = view.__qualname__ = f"anymail_{segment}_tracking"
    return view


def urlpatterns() -> list[URLPattern]:
    return [
        path(f"newsletter/anymail/{segment}/tracking/", deferred_view(segment), name=f"anymail-{segment}-tracking")
        for segment in PROVIDERS
    ]


def is_hard_bounce(event: AnymailTrackingEvent, esp_name: str) -> bool:
    """A permanent failure: the address does not exist, or refuses us for good. anymail reports some soft bounces as
    `bounced` too (Postmark's SoftBounce, Brevo's soft_bounce, SES's Transient): the provider's own field decides."""
    if event.event_type == EventType.REJECTED and event.reject_reason == RejectReason.INVALID:
        return True
    if event.event_type != EventType.BOUNCED:
        return False
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    match esp_name:
        case "Postmark":
            return bool(raw.get("Type") == "HardBounce")
        case "Amazon SES":
            return bool((raw.get("bounce") or {}).get("bounceType") == "Permanent")
        case "Brevo" | "SendinBlue":
            return raw.get("event") in ("hard_bounce", "invalid_email")
        case "SendGrid":
            return bool(raw.get("type", "bounce") == "bounce")  # "blocked" is temporary
        case "Mailjet":
            return raw.get("hard_bounce") is True
        case _:
            # Mailgun (and anymail's meaning of `bounced`): temporary failures arrive as `deferred`.
            return True


@receiver(tracking, dispatch_uid="apps.newsletter.webhooks.suppress_undeliverable_address")
def suppress_undeliverable_address(sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    if not event.recipient or "@" not in event.recipient or len(event.recipient) > 254:
        return
    if event.event_type == EventType.COMPLAINED:
        reason = SuppressionReason.COMPLAINT
    elif is_hard_bounce(event, esp_name):
        reason = SuppressionReason.HARD_BOUNCE
    else:
        return
    detail = event.description or event.mta_response or ""
    note = f"{esp_name} {event.event_type}: {detail}".strip().rstrip(":")
    suppress_undeliverable(
        email=event.recipient,
        reason=reason,
        note=note,
        consent=Consent(source=f"{esp_name} webhook ({reason})", form_text=str(detail)[:1000]),
    )
    logger.info("newsletter: %s suppressed after a %s event from %s", event.recipient, event.event_type, esp_name)
