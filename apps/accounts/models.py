from __future__ import annotations

import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.managers import UserManager
from modules.twilio.phone import validate_e164


class RegistrationSource(models.TextChoices):
    ADMIN = "admin", "Admin or command line"
    EMAIL = "email", "Email code"
    SMS = "sms", "SMS code"
    WHATSAPP = "whatsapp", "WhatsApp code"
    TELEGRAM = "telegram", "Telegram code"
    IMPORT = "import", "Import"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    TELEGRAM = "telegram", "Telegram"


def avatar_path(user: User, filename: str) -> str:
    # The name never comes from the client: a random one, with the extension of the detected format.
    extension = filename.rsplit(".", 1)[-1].lower()
    return f"avatars/{uuid.uuid4().hex}.{extension}"


class User(AbstractBaseUser, PermissionsMixin):
    """The project's user: signs in with an email address or an E.164 phone number (at least one is set)."""

    email = models.EmailField("email address", max_length=254, unique=True, null=True, blank=True)
    phone = models.CharField(max_length=16, unique=True, null=True, blank=True, validators=[validate_e164])
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    avatar = models.ImageField(upload_to=avatar_path, blank=True)
    telegram_chat_id = models.CharField(
        max_length=32, blank=True, help_text="Chat the bot sends Telegram sign-in codes to."
    )
    registration_source = models.CharField(
        max_length=16, choices=RegistrationSource, default=RegistrationSource.ADMIN, db_index=True
    )
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the admin.")
    is_active = models.BooleanField(default=True, help_text="Unset instead of deleting accounts.")
    date_joined = models.DateTimeField(default=timezone.now)
    last_activity = models.DateTimeField(null=True, blank=True, help_text="Updated at most once per few minutes.")
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Set when the user deleted the account.")

    objects: ClassVar[UserManager] = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        ordering = ("-date_joined",)
        constraints = (
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                violation_error_message="A user with this email address already exists.",
            ),
            models.CheckConstraint(
                condition=Q(email__isnull=False) | Q(phone__isnull=False),
                name="accounts_user_has_email_or_phone",
                violation_error_message="A user needs an email address or a phone number.",
            ),
        )

    def __str__(self) -> str:
        return self.email or self.phone or f"user {self.pk}"

    def clean(self) -> None:
        super().clean()
        self.email = type(self).objects.normalize_email(self.email).lower() or None
        self.phone = self.phone or None

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or str(self)

    def get_short_name(self) -> str:
        return self.first_name or str(self)


class OtpStatus(models.TextChoices):
    PENDING = "pending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Send failed"
    USED = "used", "Used"
    EXHAUSTED = "exhausted", "Too many wrong attempts"
    SUPERSEDED = "superseded", "Replaced by a newer code"
    WITHHELD = "withheld", "Not sent: the identifier may not sign in"


class OtpPurpose(models.TextChoices):
    SIGN_IN = "sign_in", "Sign in"
    # Linking a Telegram chat takes two codes: one sent to the new chat (it is reachable and theirs) and one
    # sent to the account's existing channel (the owner agrees, not just someone holding an access token).
    TELEGRAM_CHAT = "telegram_chat", "Telegram link: new chat"
    TELEGRAM_OWNER = "telegram_owner", "Telegram link: account owner"
    # Changing the email address or phone number works the same way (apps.accounts.contact_change).
    EMAIL_NEW = "email_new", "Email change: new address"
    EMAIL_OWNER = "email_owner", "Email change: account owner"
    PHONE_NEW = "phone_new", "Phone change: new number"
    PHONE_OWNER = "phone_owner", "Phone change: account owner"
    # Deleting the account takes a fresh code sent to its existing channel, not just an access token.
    ACCOUNT_DELETE = "account_delete", "Account deletion"


class OtpRequest(models.Model):
    """One one-time code. Only its keyed hash is stored; the code itself exists only in the message sent."""

    identifier = models.CharField(
        max_length=254,
        help_text="Normalised email address or E.164 phone number (for a change, the new one); for a new Telegram "
        "chat, its chat id.",
    )
    purpose = models.CharField(max_length=16, choices=OtpPurpose, default=OtpPurpose.SIGN_IN)
    channel = models.CharField(max_length=16, choices=Channel)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="otp_requests")
    approves = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approved_by",
        help_text="For the owner's code of a change: the code sent to the new value, the change it agrees to.",
    )
    salt = models.CharField(max_length=32, editable=False)
    code_hash = models.CharField(max_length=64, editable=False)
    status = models.CharField(max_length=16, choices=OtpStatus, default=OtpStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    error = models.CharField(max_length=255, blank=True, help_text="Why the provider refused, when it did.")

    class Meta:
        verbose_name = "sign-in code"
        ordering = ("-created_at",)
        indexes = (models.Index(fields=("identifier", "status", "-created_at"), name="accounts_otp_lookup"),)

    def __str__(self) -> str:
        return f"{self.channel} code for {self.identifier} ({self.status})"


class Activity(models.TextChoices):
    OTP_REQUESTED = "otp_requested", "Code requested"
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
    REGISTERED = "registered", "Registered"
    LOGOUT = "logout", "Signed out"
    PROFILE_UPDATED = "profile_updated", "Profile updated"
    AVATAR_UPDATED = "avatar_updated", "Avatar updated"
    ACCOUNT_DELETED = "account_deleted", "Account deleted"
    TELEGRAM_LINK_REQUESTED = "telegram_link_requested", "Telegram link requested"
    TELEGRAM_LINKED = "telegram_linked", "Telegram chat linked"
    TELEGRAM_LINK_FAILED = "telegram_link_failed", "Telegram link failed"
    TELEGRAM_UNLINKED = "telegram_unlinked", "Telegram chat unlinked"
    EMAIL_CHANGE_REQUESTED = "email_change_requested", "Email change requested"
    EMAIL_CHANGED = "email_changed", "Email address changed"
    EMAIL_CHANGE_FAILED = "email_change_failed", "Email change failed"
    PHONE_CHANGE_REQUESTED = "phone_change_requested", "Phone change requested"
    PHONE_CHANGED = "phone_changed", "Phone number changed"
    PHONE_CHANGE_FAILED = "phone_change_failed", "Phone change failed"
    ADMIN_SIGN_IN = "admin_sign_in", "Admin signed in"
    ADMIN_SIGN_IN_FAILED = "admin_sign_in_failed", "Admin sign-in failed"


class ActivityLog(models.Model):
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="activities")
    action = models.CharField(max_length=32, choices=Activity, db_index=True)
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "activity entry"
        verbose_name_plural = "activity entries"
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.user or 'anonymous'})"
