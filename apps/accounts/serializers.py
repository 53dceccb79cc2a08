from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from apps.accounts.avatars import AvatarRejected, clean_avatar
from apps.accounts.codes import CODE_DIGITS
from apps.accounts.identifiers import EMAIL_HELP, EMAIL_TOO_LONG, Identifier, parse_identifier
from apps.accounts.models import ActivityLog, Channel, User
from apps.accounts.services import PROFILE_FIELDS


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class IdentifierField(serializers.CharField):
    def run_validation(self, data: Any = serializers.empty) -> Identifier:
        text = super().run_validation(data)
        try:
            return parse_identifier(text)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None

    def to_representation(self, value: Any) -> str:
        return value.value if isinstance(value, Identifier) else str(value)


class ContactField(IdentifierField):
    """An identifier of one kind, canonical as for sign-in: the new email address or phone number of a change."""

    HELP = {
        "email": "Enter an email address, e.g. ada@example.com.",
        "phone": "Enter a phone number in international form, e.g. +15551234567.",
    }

    def __init__(self, kind: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind

    def run_validation(self, data: Any = serializers.empty) -> Identifier:
        text = serializers.CharField.run_validation(self, data)
        try:
            identifier = parse_identifier(text)
        except ValueError as error:
            message = str(error) if str(error) in (EMAIL_HELP, EMAIL_TOO_LONG) else self.HELP[self.kind]
            raise serializers.ValidationError(message) from None
        if identifier.kind != self.kind:
            raise serializers.ValidationError(self.HELP[self.kind])
        return identifier


class OtpRequestSerializer(serializers.Serializer):
    identifier = IdentifierField(max_length=254, help_text="Email address or E.164 phone number")
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.EMAIL)


def code_field(sent_to: str) -> serializers.RegexField:
    return serializers.RegexField(
        rf"^[0-9]{{{CODE_DIGITS}}}$",
        error_messages={"invalid": f"The code is {CODE_DIGITS} digits."},
        help_text=f"The {CODE_DIGITS}-digit code sent to {sent_to}",
    )


class OtpVerifySerializer(serializers.Serializer):
    identifier = IdentifierField(max_length=254)
    code = code_field("the identifier")


class UserSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(source="get_full_name", read_only=True)
    avatar = serializers.ImageField(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = (
            "id",
            "email",
            "phone",
            "first_name",
            "last_name",
            "full_name",
            "avatar",
            "telegram_chat_id",
            "registration_source",
            "date_joined",
            "last_login",
        )
        read_only_fields = fields


class SignInSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserSerializer()
    created = serializers.BooleanField(help_text="True when this sign-in registered the account")


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


CONTACT_FIXED = {
    "email": "Change the email address with POST /api/accounts/me/email/ (codes go to the new address and to your "
    "account's existing channel).",
    "phone": "Change the phone number with POST /api/accounts/me/phone/ (codes go to the new number and to your "
    "account's existing channel).",
}
TELEGRAM_CHAT_FIXED = (
    "telegram_chat_id cannot be changed here: it is a sign-in channel. Link a chat with POST "
    "/api/accounts/me/telegram/ (codes go to the chat and to your email or phone), unlink it with DELETE "
    "/api/accounts/me/telegram/."
)


class ProfileUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = PROFILE_FIELDS

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "telegram_chat_id" in self.initial_data:
            raise serializers.ValidationError({"detail": TELEGRAM_CHAT_FIXED})
        others = sorted(set(self.initial_data) - set(PROFILE_FIELDS))
        if others:
            pointers = "".join(f" {CONTACT_FIXED[name]}" for name in others if name in CONTACT_FIXED)
            raise serializers.ValidationError(
                {
                    "detail": f"These fields cannot be changed here: {', '.join(others)}. "
                    f"Changeable: {', '.join(PROFILE_FIELDS)}.{pointers}"
                }
            )
        return attrs


class TelegramLinkSerializer(serializers.Serializer):
    chat_id = serializers.RegexField(
        r"^-?[0-9]{1,20}$",  # ASCII digits: \d also matches other scripts' digits, which Telegram's ids never hold
        error_messages={"invalid": "A Telegram chat id is a number, e.g. 123456789."},
        help_text="The chat to link; the user must have started a conversation with the bot",
    )


class ChangeStartedSerializer(serializers.Serializer):
    """The answer to starting a Telegram link or an email or phone change: two codes are on their way."""

    detail = serializers.CharField()
    # A plain string: a second ChoiceField over Channel would give the schema two enum names for one set.
    account_channel = serializers.CharField(
        help_text="Where the account_code was sent, the account's existing channel: email, sms, whatsapp or telegram"
    )
    expires_in_minutes = serializers.IntegerField()


class TelegramLinkConfirmSerializer(serializers.Serializer):
    telegram_code = code_field("the new Telegram chat")
    account_code = code_field("the account's existing channel (email, else phone, else the chat linked now)")


class EmailChangeSerializer(serializers.Serializer):
    email = ContactField("email", max_length=254, help_text="The new email address")


class PhoneChangeSerializer(serializers.Serializer):
    phone = ContactField("phone", max_length=32, help_text="The new phone number in international form")
    # A plain string for the same reason as account_channel above: one enum name per set of choices.
    channel = serializers.CharField(
        required=False,
        help_text="sms or whatsapp: how the new number gets its code (default: the first configured of the two)",
    )

    def validate_channel(self, value: str) -> str:
        if value not in (Channel.SMS, Channel.WHATSAPP):
            raise serializers.ValidationError("Choose sms or whatsapp.")
        return value


class ChangeConfirmSerializer(serializers.Serializer):
    new_code = code_field("the new email address or phone number")
    account_code = code_field("the account's existing channel (email, else phone, else the linked Telegram chat)")


class AvatarUploadSerializer(serializers.Serializer):
    avatar = serializers.FileField(help_text="JPEG, PNG or WebP image")

    def validate_avatar(self, upload: Any) -> tuple[bytes, str]:
        """Return (content, extension) after checking size and the real format (not the name or content type)."""
        limit = settings.ACCOUNTS["AVATAR_MAX_BYTES"]
        if upload.size > limit:
            raise serializers.ValidationError(f"The avatar is {upload.size} bytes; the limit is {limit} bytes.")
        try:
            return clean_avatar(upload.read(), settings.ACCOUNTS["AVATAR_TYPES"])
        except AvatarRejected as error:
            raise serializers.ValidationError(str(error)) from None


class ActivitySerializer(serializers.ModelSerializer):
    class Meta:
        model = ActivityLog
        fields = ("id", "action", "ip", "user_agent", "details", "created_at")
        read_only_fields = fields
