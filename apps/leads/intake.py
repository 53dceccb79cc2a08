"""A submission of the public form, from request to lead: the one path the API endpoint and the HTML form share.

The defences run in this order, each before any work of the next: (the body's size, bounded by cfg.body_limit, and
the per-address throttle are the views'), the honeypot (a filled one is dropped without a word: the answer is a
success, nothing is stored, nobody is told), the signed form timestamp, the fields (lengths, an email address, the
consent), then Turnstile when it is on. Turnstile comes after the fields on purpose: its tokens are single-use,
and a typo must not cost the visitor a new challenge. Only then is anything read from or written to the database.
"""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework import serializers

from apps.leads import services
from apps.leads.defences import HONEYPOT_FIELD, form_token_check, honeypot_filled
from apps.leads.models import (
    COMPANY_MAX,
    EMAIL_MAX,
    MESSAGE_MAX,
    NAME_MAX,
    PHONE_MAX,
    SOURCE_MAX,
    URL_MAX,
    UTM_FIELDS,
    UTM_MAX,
    one_line,
)
from apps.leads.turnstile import turnstile_token, turnstile_verify
from cfg.client_ip import client_ip

PHONE_CHARACTERS = frozenset("0123456789 +-().")
CONSENT_NEEDED = "Tick the box to agree to be contacted: we cannot take the enquiry without it."
THANKS = "Thank you: we have your message and will be in touch soon."
CONTROL_CHARACTERS = "Remove the control characters (such as escape codes) from this field."
ONE_LINE_FIELDS = frozenset({"name", "phone", "company", "source", *UTM_FIELDS, "referrer", "landing_page"})


def optional(max_length: int, **kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, required=False, allow_blank=True, default="", **kwargs)


class SubmitSerializer(serializers.Serializer[Any]):
    """The public fields: the only ones a submission can set (never a status or an assignee)."""

    name = serializers.CharField(max_length=NAME_MAX)
    email = serializers.EmailField(max_length=EMAIL_MAX, help_text="One lead per address (case does not matter)")
    phone = optional(PHONE_MAX, help_text="Digits, spaces and + - ( ) .")
    company = optional(COMPANY_MAX)
    message = optional(MESSAGE_MAX, trim_whitespace=False)
    # A field named like Field.source, which DRF's metaclass takes out of the class: no clash at runtime.
    source = optional(SOURCE_MAX, help_text="Which form or page this is, e.g. pricing")  # type: ignore[assignment]
    utm_source = optional(UTM_MAX)
    utm_medium = optional(UTM_MAX)
    utm_campaign = optional(UTM_MAX)
    utm_term = optional(UTM_MAX)
    utm_content = optional(UTM_MAX)
    referrer = optional(URL_MAX, help_text="The page the visitor came from (document.referrer)")
    landing_page = optional(URL_MAX, help_text="The page the form was on (location.href)")
    consent = serializers.BooleanField(
        required=False,
        default=False,
        help_text="The visitor ticked the consent (LEADS__CONSENT_TEXT); required when a consent text is configured",
    )
    form_token = serializers.CharField(
        max_length=200, help_text="From GET /api/leads/form-token/ (or the HTML form): when the form was shown"
    )
    turnstile_token = serializers.CharField(
        max_length=2048,
        required=False,
        allow_blank=True,
        help_text="The Turnstile widget's token when Turnstile is on (or send the widget's cf-turnstile-response)",
    )
    website = serializers.CharField(
        max_length=URL_MAX, required=False, allow_blank=True, help_text="Leave empty (a trap for bots)"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Only the message may run over lines: the other fields are flattened as a person meant them. Control
        # characters (an escape sequence) are no one's typing: refused, a field at a time.
        refused = {
            name: [CONTROL_CHARACTERS]
            for name, value in attrs.items()
            if isinstance(value, str)
            and any(unicodedata.category(char) == "Cc" and char not in "\n\r\t" for char in value)
        }
        if refused:
            raise serializers.ValidationError(refused)
        return {name: one_line(value) if name in ONE_LINE_FIELDS else value for name, value in attrs.items()}

    def validate_message(self, value: str) -> str:
        return value.strip()

    def validate_phone(self, value: str) -> str:
        if value and not set(value) <= PHONE_CHARACTERS:
            raise serializers.ValidationError("Write the phone number with digits, spaces and + - ( ) . only.")
        return value

    def validate_consent(self, value: bool) -> bool:
        if settings.LEADS["CONSENT_TEXT"] and not value:
            raise serializers.ValidationError(CONSENT_NEEDED)
        return value


def submission_receive(*, data: Any, request: HttpRequest) -> uuid.UUID:
    """Screen and record one submission; the lead's reference (a random one for a dropped honeypot submission: the
    answer must look like every other). Raises the defences' ServiceErrors and serializers' ValidationError."""
    if honeypot_filled(data):
        return uuid.uuid4()
    form_token_check(data.get("form_token") if hasattr(data, "get") else None)
    serializer = SubmitSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    ip = client_ip(request)
    turnstile_verify(token=turnstile_token(data), ip=ip)
    values = {
        name: value
        for name, value in serializer.validated_data.items()
        if name not in ("form_token", "turnstile_token", HONEYPOT_FIELD)
    }
    outcome = services.lead_submit(
        submission=services.Submission.of(values),
        visitor=services.Visitor(ip=ip, user_agent=request.META.get("HTTP_USER_AGENT", "")),
    )
    return outcome.lead.reference
