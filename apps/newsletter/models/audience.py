"""The audience: mailing lists, subscribers and their subscriptions, consent records and the suppression list."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class MailingList(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_public = models.BooleanField(default=True, help_text="Offered on the subscribe form and the preferences page")
    double_opt_in = models.BooleanField(default=True, help_text="New subscribers confirm by a link sent to them")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Subscriber(models.Model):
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    # The self-service pages find the subscriber by this key inside a signed token, never by id or email.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="subscribers"
    )
    # When the last confirmation link was mailed: another is sent no sooner than NEWSLETTER__CONFIRM_RESEND_SECONDS.
    confirmation_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(Lower("email"), name="newsletter_subscriber_email_ci_unique")]

    def __str__(self) -> str:
        return self.email


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", "Waiting for confirmation"
    CONFIRMED = "confirmed", "Confirmed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class Subscription(models.Model):
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="subscriptions")
    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="subscriptions")
    status = models.CharField(max_length=20, choices=SubscriptionStatus.choices, default=SubscriptionStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["mailing_list", "subscriber"]
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "mailing_list"], name="newsletter_subscription_unique")
        ]
        indexes = [models.Index(fields=["mailing_list", "status"])]

    def __str__(self) -> str:
        return f"{self.subscriber} on {self.mailing_list}"


class ConsentAction(models.TextChoices):
    SUBSCRIBED = "subscribed", "Subscribed (asked to join)"
    CONFIRMED = "confirmed", "Confirmed by the link"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    IMPORTED = "imported", "Imported with consent given elsewhere"


class ConsentRecord(models.Model):
    """What the subscriber agreed to, when, from where: kept as evidence (GDPR art. 7(1)), never edited."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="consents")
    mailing_list = models.ForeignKey(
        MailingList, null=True, blank=True, on_delete=models.SET_NULL, related_name="consents"
    )
    action = models.CharField(max_length=20, choices=ConsentAction.choices)
    source = models.CharField(max_length=200, blank=True, help_text="Where: a form, an import, the API, a link")
    form_text = models.TextField(blank=True, help_text="The consent wording shown to the subscriber")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.subscriber}: {self.action}"


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    COMPLAINT = "complaint", "Spam complaint"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed from everything"
    DELETED = "deleted", "Deleted their data"
    MANUAL = "manual", "Added by staff"


class Suppression(models.Model):
    """An address no campaign is ever sent to, whatever its subscriptions say. Kept by lower-cased email, so that it
    outlives the subscriber (a deleted subscriber who is imported again stays suppressed)."""

    email = models.EmailField(max_length=254, unique=True)
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")),
                name="newsletter_suppression_email_lower",
                violation_error_message="Write the suppressed address in lower case.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_reason_display()})"
