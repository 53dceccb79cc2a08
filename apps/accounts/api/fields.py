"""Request fields of the accounts API: identifiers and codes in their canonical form, refresh tokens verified."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.codes import CODE_DIGITS
from apps.accounts.exceptions import InvalidRefreshToken
from apps.accounts.identifiers import EMAIL_HELP, EMAIL_TOO_LONG, Identifier, parse_identifier


class IdentifierField(serializers.CharField):
    """An email address or phone number, as the canonical Identifier sign-in looks up."""

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


def code_field(sent_to: str) -> serializers.RegexField:
    return serializers.RegexField(
        rf"^[0-9]{{{CODE_DIGITS}}}$",
        error_messages={"invalid": f"The code is {CODE_DIGITS} digits."},
        help_text=f"The {CODE_DIGITS}-digit code sent to {sent_to}",
    )


class RefreshTokenField(serializers.CharField):
    """A refresh token, verified: a malformed, expired or blacklisted one is a 401, not a 400."""

    def run_validation(self, data: Any = serializers.empty) -> RefreshToken:
        raw = super().run_validation(data)
        try:
            return RefreshToken(raw)
        except TokenError:
            raise InvalidRefreshToken() from None
