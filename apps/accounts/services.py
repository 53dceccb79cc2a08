"""The write operations of accounts: sign-in, tokens, profile. Changes of the email address, phone number and
Telegram chat are apps.accounts.contact_change and apps.accounts.telegram_link; the codes, apps.accounts.otp."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import update_last_login
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.activity import Client, activity_record
from apps.accounts.avatars import avatar_clean
from apps.accounts.channels import channel_check, probe
from apps.accounts.exceptions import (
    DeliveryFailed,
    InvalidCode,
    InvalidRefreshToken,
    ProviderUnavailable,
    RecipientRefused,
    RefreshTokenOfAnotherUser,
)
from apps.accounts.identifiers import Identifier
from apps.accounts.models import Activity, Channel, OtpPurpose, OtpRequest, OtpStatus, User
from apps.accounts.otp import otp_failure, otp_issue, otp_sign_in_for_update
from apps.accounts.selectors import user_find_by_id, user_find_by_identifier
from apps.accounts.tasks import notify_admins_of_signup

logger = logging.getLogger(__name__)

# telegram_chat_id is a sign-in channel: it changes only through apps.accounts.telegram_link, with codes.
PROFILE_FIELDS = ("first_name", "last_name")


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def _sign_in_destination(identifier: Identifier, channel: str, user: User | None) -> str | None:
    """Where the code goes, or None when no code may be sent (the caller answers the same either way)."""
    if user is not None and not user.is_active:
        return None
    if user is None and not settings.ACCOUNTS["SELF_REGISTRATION"]:
        return None
    if channel == Channel.TELEGRAM:
        # The bot can only write to a chat the user linked to an existing account.
        if user is None or not user.telegram_chat_id:
            return None
        return user.telegram_chat_id
    return identifier.value


def otp_request(*, identifier: Identifier, channel: str, client: Client) -> None:
    """Send a sign-in code if the identifier may sign in. Raises ChannelUnavailable, ChannelMismatch, or
    ProviderUnavailable (an outage: no code was sent).

    A destination that refuses the code (RecipientRefused: the chat blocked the bot, the mailbox does not exist)
    returns like a sent code: the answer must not tell an account whose chat refuses apart from an unknown
    identifier, to which nothing is sent. The code is marked failed and the refusal logged."""
    channel_check(identifier=identifier, channel=channel)
    user = user_find_by_identifier(identifier=identifier)
    destination = _sign_in_destination(identifier, channel, user)
    outage = ProviderUnavailable(
        f"The {channel} provider did not take the message; no code was sent. Try again later or choose another channel."
    )

    def record(**details: Any) -> None:
        activity_record(action=Activity.OTP_REQUESTED, user=user, client=client, channel=channel, **details)

    if destination is None:
        # Nothing is sent, but the answer and its cost are those of a send: one time-bounded round trip to the same
        # provider, which answers 503 in an outage as a send would. Otherwise an outage (or the timing) would tell
        # the identifiers the server sends to (an account, a linked chat) from those it sends nothing to.
        try:
            probe(channel)
        except DeliveryFailed as failure:
            record(sent=False, error="provider unavailable")
            raise outage from failure
        record(sent=False)
        return
    try:
        otp_issue(
            identifier=identifier.value,
            channel=channel,
            destination=destination,
            purpose=OtpPurpose.SIGN_IN,
            user=user,
            client=client,
        )
    except RecipientRefused as refusal:
        record(sent=False, error="refused by the recipient")
        logger.warning(
            "sign-in code over %s refused by its recipient (user %s); answered as if sent: %s",
            channel,
            user.pk if user else None,
            refusal.reason,
        )
        return
    except DeliveryFailed as failure:
        record(sent=False, error="provider unavailable")
        raise outage from failure
    record(sent=True)


def otp_verify(*, identifier: Identifier, code: str, client: Client) -> tuple[User, bool]:
    """Return (user, created) for a right code; raise InvalidCode (always the same message) otherwise."""
    with transaction.atomic():
        user, created, reason = _sign_in_code_consume(identifier, code)
        if user is None:
            failed_user = user_find_by_identifier(identifier=identifier)
            activity_record(action=Activity.SIGN_IN_FAILED, user=failed_user, client=client, reason=reason)
        else:
            update_last_login(User, user)
            if created:
                activity_record(action=Activity.REGISTERED, user=user, client=client, source=user.registration_source)
            activity_record(action=Activity.SIGN_IN, user=user, client=client)
    if user is None:
        raise InvalidCode()
    if (
        created
        and settings.ACCOUNTS["ADMIN_NOTIFY_SIGNUPS"]
        and settings.TELEGRAM["BOT_TOKEN"]
        and settings.TELEGRAM["CHAT_ID"]
    ):
        signed_up = user
        transaction.on_commit(lambda: notify_admins_of_signup.enqueue(signed_up.pk))
    return user, created


def _sign_in_code_consume(identifier: Identifier, code: str) -> tuple[User | None, bool, str]:
    otp = otp_sign_in_for_update(identifier=identifier.value)
    reason = otp_failure(otp=otp, code=code)
    if otp is None or reason:
        return None, False, reason
    now = timezone.now()
    user = user_find_by_identifier(identifier=identifier)
    if user is not None and not user.is_active:
        # The code is spent all the same, so it cannot be replayed once the account is reactivated.
        OtpRequest.objects.filter(pk=otp.pk).update(status=OtpStatus.USED, used_at=now)
        return None, False, "account inactive"
    created = False
    if user is None:
        if not settings.ACCOUNTS["SELF_REGISTRATION"]:
            return None, False, "self-registration off"
        user = User.objects.create_user(**{identifier.kind: identifier.value}, registration_source=otp.channel)
        created = True
    OtpRequest.objects.filter(pk=otp.pk).update(status=OtpStatus.USED, used_at=now, user=user)
    return user, created, ""


def token_pair_issue(*, user: User) -> TokenPair:
    """A new access and refresh token for a user who just proved who they are."""
    refresh = RefreshToken.for_user(user)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def token_rotate(*, refresh: RefreshToken) -> TokenPair:
    """Spend a (verified) refresh token on a new pair. Raises InvalidRefreshToken for an inactive user, or when
    another request spent the same token between its verification and now: only the request that blacklists it
    wins."""
    user = user_find_by_id(user_id=refresh.payload.get(jwt_settings.USER_ID_CLAIM), active_only=True)
    if user is None:
        raise InvalidRefreshToken()
    # simplejwt annotates blacklist() as a BlacklistedToken; it returns get_or_create's (token, created).
    blacklisting: Any = refresh.blacklist()
    _, blacklisted_now = blacklisting
    if not blacklisted_now:
        raise InvalidRefreshToken()
    return token_pair_issue(user=user)


def token_revoke(*, refresh: RefreshToken, signed_in: User | None, client: Client) -> None:
    """Sign out: blacklist the (verified) refresh token, so it can no longer be refreshed (access tokens expire on
    their own). Raises RefreshTokenOfAnotherUser when the request is signed in as someone else than its owner."""
    owner_id = refresh.payload.get(jwt_settings.USER_ID_CLAIM)
    if signed_in is not None and str(owner_id) != str(signed_in.pk):
        raise RefreshTokenOfAnotherUser()
    refresh.blacklist()
    activity_record(action=Activity.LOGOUT, user=user_find_by_id(user_id=owner_id), client=client)


def profile_update(*, user: User, client: Client, **changes: Any) -> User:
    changed = sorted(name for name, value in changes.items() if getattr(user, name) != value)
    if not changed:
        return user
    with transaction.atomic():
        for name in changed:
            setattr(user, name, changes[name])
        user.save(update_fields=changed)
        activity_record(action=Activity.PROFILE_UPDATED, user=user, client=client, fields=changed)
    return user


def avatar_set(*, user: User, upload: bytes, client: Client) -> User:
    """Store the upload as the user's avatar, re-encoded. Raises AvatarRejected when it is not an accepted image."""
    content, extension = avatar_clean(content=upload, allowed=settings.ACCOUNTS["AVATAR_TYPES"])
    old = user.avatar.name if user.avatar else ""
    with transaction.atomic():
        user.avatar.save(f"avatar.{extension}", ContentFile(content), save=False)
        user.save(update_fields=["avatar"])
        activity_record(action=Activity.AVATAR_UPDATED, user=user, client=client, size=len(content), type=extension)
    if old:
        transaction.on_commit(lambda: user.avatar.storage.delete(old))
    return user


def account_delete(*, user: User, client: Client) -> None:
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
        activity_record(action=Activity.ACCOUNT_DELETED, user=user, client=client)
    if old_avatar:
        transaction.on_commit(lambda: user.avatar.storage.delete(old_avatar))


def user_touch_last_activity(*, user: User) -> bool:
    """Write last_activity when it is older than the interval; returns whether it wrote."""
    now = timezone.now()
    interval = timedelta(seconds=settings.ACCOUNTS["LAST_ACTIVITY_INTERVAL_SECONDS"])
    if user.last_activity is not None and now - user.last_activity < interval:
        return False
    written = (
        User.objects.filter(pk=user.pk)
        .filter(Q(last_activity__isnull=True) | Q(last_activity__lte=now - interval))
        .update(last_activity=now)
    )
    user.last_activity = now
    return bool(written)
