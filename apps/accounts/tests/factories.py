"""Rows for tests, built the way the application builds them (plain functions: factory_boy is not a dependency)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.accounts.codes import hash_code, new_salt
from apps.accounts.models import Channel, OtpPurpose, OtpRequest, OtpStatus, User


def otp_request_create(
    *,
    identifier: str,
    code: str = "123456",
    purpose: str = OtpPurpose.SIGN_IN,
    channel: str = Channel.EMAIL,
    status: str = OtpStatus.SENT,
    user: User | None = None,
    expires_in: timedelta = timedelta(minutes=10),
    **fields: Any,
) -> OtpRequest:
    """An OTP request whose code is `code`, hashed as issued codes are."""
    salt = new_salt()
    return OtpRequest.objects.create(
        identifier=identifier,
        purpose=purpose,
        channel=channel,
        status=status,
        user=user,
        salt=salt,
        code_hash=hash_code(code, identifier=identifier, salt=salt),
        expires_at=timezone.now() + expires_in,
        **fields,
    )
