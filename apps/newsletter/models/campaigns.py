"""Campaigns, their per-recipient send log (Delivery) and what recipients did with them (TrackingEvent).

A campaign's recipients are written as Delivery rows before anything is sent, one per address (a unique constraint),
and each row moves pending → sending → sent (or failed, suppressed, skipped) with a commit at every step: that log is
what makes a send resumable after a crash without sending anyone the campaign twice (apps.newsletter.sending)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from apps.newsletter.models.audience import MailingList, Subscriber, Subscription

__all__ = [
    "Campaign",
    "CampaignStatus",
    "Delivery",
    "DeliveryStatus",
    "TrackingEvent",
    "TrackingKind",
]


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"


class Campaign(models.Model):
    name = models.CharField(max_length=200, help_text="For staff; recipients see the subject")
    mailing_list = models.ForeignKey(MailingList, on_delete=models.PROTECT, related_name="campaigns")
    subject = models.CharField(max_length=500, help_text="A Django template, rendered for each subscriber")
    html_body = models.TextField(help_text="Django template of the HTML part")
    text_body = models.TextField(help_text="Django template of the plain-text part")
    from_email = models.CharField(max_length=254, blank=True, help_text="Empty: NEWSLETTER__FROM_EMAIL")
    status = models.CharField(max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    track_opens = models.BooleanField(default=True, help_text="Add an invisible image that records opens")
    track_clicks = models.BooleanField(default=True, help_text="Send links through a signed redirect that counts")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed"
    SKIPPED = "skipped", "Skipped"


class Delivery(models.Model):
    """One recipient of one campaign. The address is copied, so the log outlives the subscriber."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    email = models.EmailField(max_length=254)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint("campaign", Lower("email"), name="newsletter_delivery_campaign_email_unique"),
        ]
        indexes = [models.Index(fields=["campaign", "status", "id"])]

    def __str__(self) -> str:
        return f"{self.email} ({self.status})"


class TrackingKind(models.TextChoices):
    OPEN = "open", "Open"
    CLICK = "click", "Click"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe"


class TrackingEvent(models.Model):
    """What one recipient did: one row per delivery, kind and URL (the link clicked; empty for the others), counting
    repeats. So unique opens and unique clicks are rows, totals are sums, and a recipient whose mail client loads the
    pixel a thousand times adds one row."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=TrackingKind.choices)
    url = models.TextField(blank=True)
    count = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField(auto_now_add=True)
    last_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_at"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "kind", "url"], name="newsletter_tracking_event_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.delivery_id}" + (f": {self.url}" if self.url else "")
