"""The one-time code engine: issuing a code, checking one, and which codes a delivered code replaces.

The codes themselves (drawing, hashing, comparing) are apps.accounts.codes; what a code is for is decided by its
callers (sign-in in apps.accounts.services, changes in apps.accounts.contact_change)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from apps.accounts.activity import Client
from apps.accounts.channels import deliver_code
from apps.accounts.codes import code_matches, hash_code, new_code, new_salt
from apps.accounts.exceptions import DeliveryFailed
from apps.accounts.models import Channel, OtpPurpose, OtpRequest, OtpStatus, User

logger = logging.getLogger(__name__)


def otp_issue(
    *,
    identifier: str,
    channel: str,
    destination: str,
    purpose: str,
    user: User | None,
    client: Client,
    target: str = "",
    approves: OtpRequest | None = None,
) -> OtpRequest:
    """Create and deliver one code now. Raises DeliveryFailed (the code is marked failed; earlier codes stay valid).

    `target` is the chat, address or number a change code is about (named in the message); `approves`, for the
    owner's code of a change, the code sent to that new value (apps.accounts.contact_change): the owner code confirms
    that change and no other. Once delivered, a sign-in code replaces the earlier sign-in codes of the identifier,
    and an owner code the user's earlier change of its kind (see _replaced_by)."""
    otp, code = otp_create(
        identifier=identifier, channel=channel, purpose=purpose, user=user, client=client, approves=approves
    )
    otp_deliver(otp=otp, code=code, destination=destination, target=target)
    return otp


def otp_create(
    *,
    identifier: str,
    channel: str,
    purpose: str,
    user: User | None,
    client: Client,
    approves: OtpRequest | None = None,
    withheld: bool = False,
) -> tuple[OtpRequest, str]:
    """Record a new code and return it with the code itself, which exists nowhere else: deliver it with otp_deliver.

    A `withheld` code is recorded the same way (the same work, so the answer takes the same time) but is never sent
    and never works: the identifier may not sign in."""
    code, salt = new_code(), new_salt()
    otp = OtpRequest.objects.create(
        identifier=identifier,
        purpose=purpose,
        channel=channel,
        user=user,
        approves=approves,
        status=OtpStatus.WITHHELD if withheld else OtpStatus.PENDING,
        salt=salt,
        code_hash=hash_code(code, identifier=identifier, salt=salt),
        expires_at=timezone.now() + timedelta(minutes=settings.ACCOUNTS["OTP_EXPIRY_MINUTES"]),
        ip=client.ip,
        user_agent=client.user_agent,
    )
    return otp, code


def otp_deliver(*, otp: OtpRequest, code: str, destination: str, target: str = "") -> None:
    """Send a code created by otp_create; once sent, it replaces the codes it supersedes. Raises DeliveryFailed
    (RecipientRefused when the destination refused it); the code is then marked failed and earlier codes stay valid."""
    minutes = settings.ACCOUNTS["OTP_EXPIRY_MINUTES"]
    try:
        deliver_code(otp.channel, destination, code, minutes, purpose=otp.purpose, target=target)
    except DeliveryFailed as error:
        otp_mark_failed(otp=otp, reason=error.reason)
        raise
    with transaction.atomic():
        for earlier in _replaced_by(otp):
            earlier.update(status=OtpStatus.SUPERSEDED)
        OtpRequest.objects.filter(pk=otp.pk).update(status=OtpStatus.SENT, sent_at=timezone.now())
    logger.info("%s code %s sent over %s", otp.purpose, otp.pk, otp.channel)
    otp.status = OtpStatus.SENT


def otp_mark_failed(*, otp: OtpRequest, reason: str) -> None:
    OtpRequest.objects.filter(pk=otp.pk).update(status=OtpStatus.FAILED, error=reason)
    logger.warning("%s code %s over %s not delivered: %s", otp.purpose, otp.pk, otp.channel, reason)


def _replaced_by(otp: OtpRequest) -> list[QuerySet[OtpRequest]]:
    """The outstanding codes a delivered code replaces.

    A sign-in code replaces the identifier's earlier sign-in codes. The code sent to the new value of a change replaces
    nothing: it works only with the owner code that approves it, and two changes started at once must not pair one's
    new code with the other's owner code. The owner code replaces the user's earlier owner codes of its kind, then the
    new-value codes of its kind except the one it approves and those whose own owner code is still being sent (that
    send, when it ends, replaces this change in turn): so the change whose owner code arrived last is the one pending,
    with both its codes."""
    sent = OtpRequest.objects.filter(status=OtpStatus.SENT).exclude(pk=otp.pk)
    if otp.purpose == OtpPurpose.SIGN_IN:
        return [sent.filter(purpose=OtpPurpose.SIGN_IN, identifier=otp.identifier)]
    if otp.purpose == OtpPurpose.ACCOUNT_DELETE:
        return [sent.filter(purpose=OtpPurpose.ACCOUNT_DELETE, user=otp.user)]
    if otp.approves is None:
        return []
    in_flight = OtpRequest.objects.filter(
        user=otp.user, purpose=otp.purpose, status=OtpStatus.PENDING, approves__isnull=False
    ).exclude(pk=otp.pk)
    new_codes = sent.filter(user=otp.user, purpose=otp.approves.purpose).exclude(pk=otp.approves.pk)
    return [
        sent.filter(user=otp.user, purpose=otp.purpose),
        new_codes.exclude(pk__in=in_flight.values("approves_id")),
    ]


def otp_failure(*, otp: OtpRequest | None, code: str) -> str:
    """Why `code` does not unlock `otp` (a row locked with select_for_update), or "" when it does.

    A wrong guess counts; the code stops working after OTP_MAX_ATTEMPTS of them."""
    if otp is None:
        return "no code outstanding"
    if otp.expires_at <= timezone.now():
        return "code expired"
    max_attempts = settings.ACCOUNTS["OTP_MAX_ATTEMPTS"]
    if otp.attempts >= max_attempts:
        return "too many attempts"
    if not code_matches(code, identifier=otp.identifier, salt=otp.salt, code_hash=otp.code_hash):
        otp.attempts = F("attempts") + 1
        otp.save(update_fields=["attempts"])
        otp.refresh_from_db(fields=["attempts"])
        if otp.attempts >= max_attempts:
            OtpRequest.objects.filter(pk=otp.pk).update(status=OtpStatus.EXHAUSTED)
        return "wrong code"
    return ""


def otp_sign_in_for_update(*, identifier: str) -> OtpRequest | None:
    """The identifier's outstanding sign-in code, locked until the end of the transaction."""
    return (
        OtpRequest.objects.select_for_update()
        .filter(identifier=identifier, purpose=OtpPurpose.SIGN_IN, status=OtpStatus.SENT)
        .order_by("-created_at")
        .first()
    )


def otp_supersede_telegram_sign_in(*, user: User) -> None:
    """End the sign-in codes already sent to the user's Telegram chat: call it in the transaction that re-links or
    unlinks the chat. They are stored under the account's email or phone, which stays, so nothing else ends them,
    and a code the old chat holds must not sign in once the chat is no longer the account's."""
    OtpRequest.objects.filter(
        user=user, purpose=OtpPurpose.SIGN_IN, channel=Channel.TELEGRAM, status=OtpStatus.SENT
    ).update(status=OtpStatus.SUPERSEDED)
