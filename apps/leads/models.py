"""Leads: one per email address, each website submission recorded as a touch, and the pipeline's history and notes.

The pipeline (Status) moves new → contacted → qualified → won, and to lost from any open status. Won is final; a
lost lead may be reopened (back to contacted), because people come back. TRANSITIONS is the one place that says so.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

# The longest values the public form takes; the serializers and the HTML form read them from here.
NAME_MAX = 200
EMAIL_MAX = 254
PHONE_MAX = 40
COMPANY_MAX = 200
MESSAGE_MAX = 5000
SOURCE_MAX = 100
UTM_MAX = 200
URL_MAX = 2000
USER_AGENT_MAX = 500
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# What the visitor types, and where they came from: the fields of a lead and of each touch the form fills.
CONTACT_FIELDS = ("name", "email", "phone", "company", "message")
ATTRIBUTION_FIELDS = ("source", *UTM_FIELDS, "referrer", "landing_page")


def one_line(text: str) -> str:
    """`text` with every run of whitespace, line breaks and tabs included, as one space: what a one-line field
    holds. A line break in a name would end an email's subject header and write lines into a chat message."""
    return " ".join(text.split())


class Status(models.TextChoices):
    NEW = "new", "New"
    CONTACTED = "contacted", "Contacted"
    QUALIFIED = "qualified", "Qualified"
    WON = "won", "Won"
    LOST = "lost", "Lost"


TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.CONTACTED, Status.LOST),
    Status.CONTACTED: (Status.QUALIFIED, Status.LOST),
    Status.QUALIFIED: (Status.WON, Status.LOST),
    Status.WON: (),
    Status.LOST: (Status.CONTACTED,),
}
OPEN_STATUSES = (Status.NEW, Status.CONTACTED, Status.QUALIFIED)


class Lead(models.Model):
    # What the submit endpoint answers: it names the lead without telling its id (a count of all leads) to anyone.
    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=NAME_MAX, blank=True)
    email = models.EmailField(max_length=EMAIL_MAX, help_text="Stored in lower case: one lead per address")
    phone = models.CharField(max_length=PHONE_MAX, blank=True)
    company = models.CharField(max_length=COMPANY_MAX, blank=True)
    message = models.TextField(blank=True, help_text="The first message; each submission's is on its touch")
    # Attribution of the first touch that had it (a later touch fills what is empty, never overwrites).
    source = models.CharField(max_length=SOURCE_MAX, blank=True, help_text="Which form or page, e.g. pricing")
    utm_source = models.CharField(max_length=UTM_MAX, blank=True)
    utm_medium = models.CharField(max_length=UTM_MAX, blank=True)
    utm_campaign = models.CharField(max_length=UTM_MAX, blank=True)
    utm_term = models.CharField(max_length=UTM_MAX, blank=True)
    utm_content = models.CharField(max_length=UTM_MAX, blank=True)
    referrer = models.CharField(max_length=URL_MAX, blank=True)
    landing_page = models.CharField(max_length=URL_MAX, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_leads",
        limit_choices_to={"is_staff": True, "is_active": True},
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_touch_at = models.DateTimeField(null=True, blank=True)
    # The latest consent given: its text and version as shown, and from where and when.
    consent_text = models.TextField(blank=True)
    consent_version = models.CharField(max_length=50, blank=True)
    consent_ip = models.GenericIPAddressField(null=True, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="leads_lead_unique_email",
                violation_error_message="A lead with this email address already exists: open it instead.",
            ),
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="leads_lead_status_valid"),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="leads_lead_status_created"),
            models.Index(fields=["source"], name="leads_lead_source"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        # One lead per address whatever the path (form, admin, import): addresses are kept in lower case.
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


class LeadTouch(models.Model):
    """One submission of the form, as it was sent: what the person wrote, where they came from, and their consent."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="touches")
    name = models.CharField(max_length=NAME_MAX, blank=True)
    email = models.EmailField(max_length=EMAIL_MAX)
    phone = models.CharField(max_length=PHONE_MAX, blank=True)
    company = models.CharField(max_length=COMPANY_MAX, blank=True)
    message = models.TextField(blank=True)
    source = models.CharField(max_length=SOURCE_MAX, blank=True)
    utm_source = models.CharField(max_length=UTM_MAX, blank=True)
    utm_medium = models.CharField(max_length=UTM_MAX, blank=True)
    utm_campaign = models.CharField(max_length=UTM_MAX, blank=True)
    utm_term = models.CharField(max_length=UTM_MAX, blank=True)
    utm_content = models.CharField(max_length=UTM_MAX, blank=True)
    referrer = models.CharField(max_length=URL_MAX, blank=True)
    landing_page = models.CharField(max_length=URL_MAX, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=USER_AGENT_MAX, blank=True)
    consent_text = models.TextField(blank=True)
    consent_version = models.CharField(max_length=50, blank=True)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the normalised fields: the same submission")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["fingerprint", "-created_at"], name="leads_touch_fingerprint")]

    def __str__(self) -> str:
        return f"{self.email} at {self.created_at:%Y-%m-%d %H:%M}"


class StatusChange(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(max_length=20, choices=Status.choices)
    to_status = models.CharField(max_length=20, choices=Status.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-changed_at", "-id")

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


class LeadNote(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.body[:60]


class AssignmentCursor(models.Model):
    """The round-robin's place: the staff member who took the last new lead. One row, locked while the next is
    chosen, so that concurrent submissions take turns rather than pick the same person."""

    last_assignee_id = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"last: {self.last_assignee_id}"
