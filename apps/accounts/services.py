"""The write operations of accounts: codes, sign-in, profile, activity."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import update_last_login
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.channels import (
    DeliveryFailed,
    RecipientRefused,
    available_channels,
    channel_configured,
    deliver_code,
    probe,
)
from apps.accounts.codes import code_matches, hash_code, new_code, new_salt
from apps.accounts.identifiers import Identifier
from apps.accounts.models import Activity, ActivityLog, Channel, OtpPurpose, OtpRequest, OtpStatus, User

logger = logging.getLogger(__name__)

INVALID_CODE = "The code is wrong, has expired or was used already. Request a new code."


class ChannelUnavailable(Exception):
    """The chosen channel is not configured (no provider credentials) or not offered."""


class ChannelMismatch(Exception):
    """The identifier does not fit the channel (an email address for SMS, say)."""


class InvalidCode(Exception):
    """The code is wrong, expired, used or out of attempts."""


@dataclass(frozen=True)
class Client:
    """Where a request came from, for the activity log and the OTP record."""

    ip: str | None = None
    user_agent: str = ""


def activity_record(
    action: str, *, user: User | None = None, client: Client | None = None, **details: Any
) -> ActivityLog:
    client = client or Client()
    return ActivityLog.objects.create(
        user=user, action=action, ip=client.ip, user_agent=client.user_agent, details=details
    )


def _conf(name: str) -> Any:
    return settings.ACCOUNTS[name]


def find_user(identifier: Identifier) -> User | None:
    return User.objects.filter(**identifier.lookup).first()


def check_channel(identifier: Identifier, channel: str) -> None:
    if not channel_configured(channel):
        offered = ", ".join(available_channels()) or "none"
        raise ChannelUnavailable(f"The {channel} channel is not configured on this server. Available: {offered}.")
    if channel == Channel.EMAIL and identifier.kind != "email":
        raise ChannelMismatch("The email channel needs an email address as identifier.")
    if channel in (Channel.SMS, Channel.WHATSAPP) and identifier.kind != "phone":
        raise ChannelMismatch(f"The {channel} channel needs a phone number in international form, e.g. +15551234567.")


def _destination(identifier: Identifier, channel: str, user: User | None) -> str | None:
    """Where the code goes, or None when no code may be sent (the caller answers the same either way)."""
    if user is not None and not user.is_active:
        return None
    if user is None and not _conf("SELF_REGISTRATION"):
        return None
    if channel == Channel.TELEGRAM:
        # The bot can only write to a chat the user linked to an existing account.
        if user is None or not user.telegram_chat_id:
            return None
        return user.telegram_chat_id
    return identifier.value


def otp_request(identifier: Identifier, channel: str, *, client: Client) -> None:
    """Send a code if the identifier may sign in. Raises ChannelUnavailable, ChannelMismatch or DeliveryFailed (an
    outage: the caller answers 503).

    A destination that refuses the code (RecipientRefused: the chat blocked the bot, the mailbox does not exist)
    returns like a sent code: the answer must not tell an account whose chat refuses apart from an unknown
    identifier, to which nothing is sent. The code is marked failed and the refusal logged."""
    check_channel(identifier, channel)
    user = find_user(identifier)
    destination = _destination(identifier, channel, user)
    if destination is None:
        # Nothing is sent, but the answer and its cost are those of a send: one time-bounded round trip to the same
        # provider, which answers 503 in an outage as a send would. Otherwise an outage (or the timing) would tell
        # the identifiers the server sends to (an account, a linked chat) from those it sends nothing to.
        try:
            probe(channel)
        except DeliveryFailed:
            activity_record(
                Activity.OTP_REQUESTED,
                user=user,
                client=client,
                channel=channel,
                sent=False,
                error="provider unavailable",
            )
            raise
        activity_record(Activity.OTP_REQUESTED, user=user, client=client, channel=channel, sent=False)
        return
    try:
        issue_code(identifier.value, channel, destination, purpose=OtpPurpose.SIGN_IN, user=user, client=client)
    except DeliveryFailed as failure:
        refused = isinstance(failure, RecipientRefused)
        problem = "refused by the recipient" if refused else "provider unavailable"
        activity_record(Activity.OTP_REQUESTED, user=user, client=client, channel=channel, sent=False, error=problem)
        if not refused:
            raise
        logger.warning(
            "sign-in code over %s refused by its recipient (user %s); answered as if sent: %s",
            channel,
            user.pk if user else None,
            failure.reason,
        )
        return
    activity_record(Activity.OTP_REQUESTED, user=user, client=client, channel=channel, sent=True)


def issue_code(
    identifier: str,
    channel: str,
    destination: str,
    *,
    purpose: str,
    user: User | None,
    client: Client,
    target: str = "",
    approves: OtpRequest | None = None,
) -> OtpRequest:
    """Create and deliver one code. Raises DeliveryFailed (the code is marked failed; earlier codes stay valid).

    `target` is the chat, address or number a change code is about (named in the message); `approves`, for the
    owner's code of a change, the code sent to that new value (apps.accounts.contact_change): the owner code confirms
    that change and no other. Once delivered, a sign-in code replaces the earlier sign-in codes of the identifier,
    and an owner code the user's earlier change of its kind (see _replaced_by)."""
    minutes = _conf("OTP_EXPIRY_MINUTES")
    code, salt = new_code(), new_salt()
    otp = OtpRequest.objects.create(
        identifier=identifier,
        purpose=purpose,
        channel=channel,
        user=user,
        approves=approves,
        salt=salt,
        code_hash=hash_code(code, identifier=identifier, salt=salt),
        expires_at=timezone.now() + timedelta(minutes=minutes),
        ip=client.ip,
        user_agent=client.user_agent,
    )
    try:
        deliver_code(channel, destination, code, minutes, purpose=purpose, target=target)
    except DeliveryFailed as error:
        OtpRequest.objects.filter(pk=otp.pk).update(status=OtpStatus.FAILED, error=error.reason)
        logger.warning("%s code %s over %s not delivered: %s", purpose, otp.pk, channel, error.reason)
        raise
    with transaction.atomic():
        for earlier in _replaced_by(otp):
            earlier.update(status=OtpStatus.SUPERSEDED)
        OtpRequest.objects.filter(pk=otp.pk).update(status=OtpStatus.SENT, sent_at=timezone.now())
    logger.info("%s code %s sent over %s", purpose, otp.pk, channel)
    otp.status = OtpStatus.SENT
    return otp


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


def supersede_telegram_sign_in_codes(user: User) -> None:
    """End the sign-in codes already sent to the user's Telegram chat: call it in the transaction that re-links or
    unlinks the chat. They are stored under the account's email or phone, which stays, so nothing else ends them,
    and a code the old chat holds must not sign in once the chat is no longer the account's."""
    OtpRequest.objects.filter(
        user=user, purpose=OtpPurpose.SIGN_IN, channel=Channel.TELEGRAM, status=OtpStatus.SENT
    ).update(status=OtpStatus.SUPERSEDED)


def code_failure(otp: OtpRequest | None, code: str) -> str:
    """Why `code` does not unlock `otp` (a row locked with select_for_update), or "" when it does.

    A wrong guess counts; the code stops working after OTP_MAX_ATTEMPTS of them."""
    if otp is None:
        return "no code outstanding"
    if otp.expires_at <= timezone.now():
        return "code expired"
    if otp.attempts >= _conf("OTP_MAX_ATTEMPTS"):
        return "too many attempts"
    if not code_matches(code, identifier=otp.identifier, salt=otp.salt, code_hash=otp.code_hash):
        otp.attempts = F("attempts") + 1
        otp.save(update_fields=["attempts"])
        otp.refresh_from_db(fields=["attempts"])
        if otp.attempts >= _conf("OTP_MAX_ATTEMPTS"):
            OtpRequest.objects.filter(pk=otp.pk).update(status=OtpStatus.EXHAUSTED)
        return "wrong code"
    return ""


def otp_verify(identifier: Identifier, code: str, *, client: Client) -> tuple[User, bool]:
    """Return (user, created) for a right code; raise InvalidCode (always the same message) otherwise."""
    with transaction.atomic():
        user, created, reason = _consume_code(identifier, code)
        if user is None:
            failed_user = find_user(identifier)
            activity_record(Activity.SIGN_IN_FAILED, user=failed_user, client=client, reason=reason)
        else:
            update_last_login(User, user)
            if created:
                activity_record(Activity.REGISTERED, user=user, client=client, source=user.registration_source)
            activity_record(Activity.SIGN_IN, user=user, client=client)
    if user is None:
        raise InvalidCode(INVALID_CODE)
    if created and _conf("ADMIN_NOTIFY_SIGNUPS") and settings.TELEGRAM["BOT_TOKEN"] and settings.TELEGRAM["CHAT_ID"]:
        from apps.accounts.tasks import notify_admins_of_signup

        transaction.on_commit(lambda: notify_admins_of_signup.enqueue(user.pk))
    return user, created


def _consume_code(identifier: Identifier, code: str) -> tuple[User | None, bool, str]:
    otp = (
        OtpRequest.objects.select_for_update()
        .filter(identifier=identifier.value, purpose=OtpPurpose.SIGN_IN, status=OtpStatus.SENT)
        .order_by("-created_at")
        .first()
    )
    now = timezone.now()
    reason = code_failure(otp, code)
    if reason:
        return None, False, reason
    user = find_user(identifier)
    if user is not None and not user.is_active:
        # The code is spent all the same, so it cannot be replayed once the account is reactivated.
        OtpRequest.objects.filter(pk=otp.pk).update(status=OtpStatus.USED, used_at=now)
        return None, False, "account inactive"
    created = False
    if user is None:
        if not _conf("SELF_REGISTRATION"):
            return None, False, "self-registration off"
        user = User.objects.create_user(**{identifier.kind: identifier.value}, registration_source=otp.channel)
        created = True
    OtpRequest.objects.filter(pk=otp.pk).update(status=OtpStatus.USED, used_at=now, user=user)
    return user, created, ""


class TokenRevoked(Exception):
    """The refresh token was already used, blacklisted or belongs to an inactive account."""


def token_rotate(refresh: RefreshToken) -> RefreshToken:
    """Spend a (verified) refresh token on a new one. Raises TokenRevoked for an inactive user, or when another
    request spent the same token between its verification and now: only the request that blacklists it wins."""
    user = User.objects.filter(pk=refresh.payload.get(jwt_settings.USER_ID_CLAIM), is_active=True).first()
    if user is None:
        raise TokenRevoked()
    _, blacklisted_now = refresh.blacklist()  # BlacklistedToken.objects.get_or_create's (token, created)
    if not blacklisted_now:
        raise TokenRevoked()
    return RefreshToken.for_user(user)


def logout(refresh: RefreshToken, *, client: Client) -> None:
    """Blacklist the refresh token: it can no longer be refreshed (access tokens expire on their own)."""
    refresh.blacklist()
    user = User.objects.filter(pk=refresh.payload.get(jwt_settings.USER_ID_CLAIM)).first()
    activity_record(Activity.LOGOUT, user=user, client=client)


# telegram_chat_id is a sign-in channel: it changes only through apps.accounts.telegram_link, with codes.
PROFILE_FIELDS = ("first_name", "last_name")


def profile_update(user: User, *, client: Client, **changes: Any) -> User:
    changed = sorted(name for name, value in changes.items() if getattr(user, name) != value)
    if not changed:
        return user
    with transaction.atomic():
        for name in changed:
            setattr(user, name, changes[name])
        user.save(update_fields=changed)
        activity_record(Activity.PROFILE_UPDATED, user=user, client=client, fields=changed)
    return user


def avatar_set(user: User, content: bytes, extension: str, *, client: Client) -> User:
    old = user.avatar.name if user.avatar else ""
    with transaction.atomic():
        user.avatar.save(f"avatar.{extension}", ContentFile(content), save=False)
        user.save(update_fields=["avatar"])
        activity_record(Activity.AVATAR_UPDATED, user=user, client=client, size=len(content), type=extension)
    if old:
        transaction.on_commit(lambda: user.avatar.storage.delete(old))
    return user


def account_delete(user: User, *, client: Client) -> None:
    """Deactivate and strip personal data; the email or phone stays taken, so the account cannot come back
    through self-registration and nobody else can sign in as it. Every refresh token is revoked."""
    old_avatar = user.avatar.name if user.avatar else ""
    with transaction.atomic():
        user.is_active = False
        user.deleted_at = timezone.now()
        user.first_name = user.last_name = user.telegram_chat_id = ""
        user.avatar = ""
        user.set_unusable_password()
        user.save()
        outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
        BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
        )
        OtpRequest.objects.filter(
            Q(user=user) | Q(identifier__in=[value for value in (user.email, user.phone) if value]),
            status=OtpStatus.SENT,
        ).update(status=OtpStatus.SUPERSEDED)
        activity_record(Activity.ACCOUNT_DELETED, user=user, client=client)
    if old_avatar:
        transaction.on_commit(lambda: user.avatar.storage.delete(old_avatar))


def touch_last_activity(user: User) -> bool:
    """Write last_activity when it is older than the interval; returns whether it wrote."""
    now = timezone.now()
    interval = timedelta(seconds=_conf("LAST_ACTIVITY_INTERVAL_SECONDS"))
    if user.last_activity is not None and now - user.last_activity < interval:
        return False
    written = (
        User.objects.filter(pk=user.pk)
        .filter(Q(last_activity__isnull=True) | Q(last_activity__lte=now - interval))
        .update(last_activity=now)
    )
    user.last_activity = now
    return bool(written)
