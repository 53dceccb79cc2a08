"""The write operations of accounts: sign-in, tokens, profile. Changes of the email address, phone number and
Telegram chat are apps.accounts.contact_change and apps.accounts.telegram_link; the codes, apps.accounts.otp."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
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
from apps.accounts.channels import channel_check, probe, rehearse_code
from apps.accounts.contact_change import owner_channel
from apps.accounts.exceptions import (
    ChangeRefused,
    DeliveryFailed,
    InvalidCode,
    InvalidRefreshToken,
    ProviderUnavailable,
    RefreshTokenOfAnotherUser,
    WrongCodes,
)
from apps.accounts.identifiers import Identifier
from apps.accounts.models import Activity, Channel, OtpPurpose, OtpRequest, OtpStatus, User
from apps.accounts.otp import (
    otp_create,
    otp_deliver,
    otp_failure,
    otp_issue,
    otp_mark_failed,
    otp_sign_in_for_update,
)
from apps.accounts.selectors import self_registration_open, user_find_by_id, user_find_by_identifier
from apps.accounts.tasks import notify_admins_of_signup

logger = logging.getLogger(__name__)

# telegram_chat_id is a sign-in channel: it changes only through apps.accounts.telegram_link, with codes.
PROFILE_FIELDS = ("first_name", "last_name")
DELETE_START_PATH = "/api/accounts/me/delete/"


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def _sign_in_destination(identifier: Identifier, channel: str, user: User | None) -> str | None:
    """Where the code goes, or None when no code may be sent (the caller answers the same either way)."""
    registration_open = self_registration_open()  # read for every identifier alike: the same work for each
    if user is not None and not user.is_active:
        return None
    if user is None and not registration_open:
        return None
    if channel == Channel.TELEGRAM:
        # The bot can only write to a chat the user linked to an existing account.
        if user is None or not user.telegram_chat_id:
            return None
        return user.telegram_chat_id
    return identifier.value


def otp_request(*, identifier: Identifier, channel: str, client: Client) -> Callable[[], None]:
    """Prepare a sign-in code for the identifier and return its delivery, to run once the answer is sent (the view
    hands it to modules.api.after_response). Raises ChannelUnavailable, ChannelMismatch, or ProviderUnavailable (an
    outage: no code will be sent).

    Every identifier costs the same work before the answer: the account lookup, one code recorded (withheld when the
    identifier may not sign in: unknown with self-registration off, inactive, or a Telegram chat not linked), one
    round trip to the provider that sends nothing (it answers 503 in an outage, for every identifier alike), and one
    activity record. The send, which only some identifiers get, happens after the answer: neither the answer nor its
    timing tells an account from an unknown identifier. A destination that refuses the code (the chat blocked the
    bot, the mailbox does not exist), or a provider failing between the probe and the send, is logged and marks the
    code failed."""
    channel_check(identifier=identifier, channel=channel)
    user = user_find_by_identifier(identifier=identifier)
    destination = _sign_in_destination(identifier, channel, user)
    otp, code = otp_create(
        identifier=identifier.value,
        channel=channel,
        purpose=OtpPurpose.SIGN_IN,
        user=user,
        client=client,
        withheld=destination is None,
    )
    delivery = "withheld" if destination is None else "queued"
    try:
        probe(channel)
    except DeliveryFailed as failure:
        otp_mark_failed(otp=otp, reason=failure.reason)
        activity_record(
            action=Activity.OTP_REQUESTED, user=user, client=client, channel=channel, delivery="provider unavailable"
        )
        raise ProviderUnavailable(
            f"The {channel} provider did not take the message; no code was sent. Try again later or choose "
            "another channel."
        ) from failure
    activity_record(action=Activity.OTP_REQUESTED, user=user, client=client, channel=channel, delivery=delivery)

    def deliver() -> None:
        if destination is None:
            rehearse_code(channel, settings.ACCOUNTS["OTP_EXPIRY_MINUTES"])
            return
        # A failure is already recorded on the code and logged (otp_mark_failed); nobody is waiting to be told.
        with contextlib.suppress(DeliveryFailed):
            otp_deliver(otp=otp, code=code, destination=destination)

    return deliver


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
        if not self_registration_open():
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


def account_delete_start(*, user: User, client: Client) -> str:
    """Send a code that confirms deleting the account to its existing channel; return the channel's name. An access
    token alone must not delete an account (a stolen one would, for good), as it cannot change its email or phone.

    Raises ChangeRefused when the account has no channel this server can send to, or ProviderUnavailable."""
    owner = owner_channel(user, allow_telegram=True)
    if owner is None:
        raise ChangeRefused(
            "Your account has no channel this server can send a confirmation code to, so it cannot be deleted "
            "here. Ask an administrator to delete it."
        )
    channel, destination = owner
    try:
        otp_issue(
            identifier=destination,
            channel=channel,
            destination=destination,
            purpose=OtpPurpose.ACCOUNT_DELETE,
            user=user,
            client=client,
        )
    except DeliveryFailed as failure:
        raise ProviderUnavailable(
            f"The {channel} provider did not take the message; no code was sent. Try again later."
        ) from failure
    return channel


def account_delete(*, user: User, code: str, client: Client) -> None:
    """Delete the account when `code` is its newest deletion code. Raises WrongCodes otherwise (a wrong guess
    counts against the code's attempts, so it is committed before raising).

    Deleting deactivates and strips personal data; the email or phone stays taken, so the account cannot come back
    through self-registration and nobody else can sign in as it. Every refresh token is revoked."""
    with transaction.atomic():
        otp = (
            OtpRequest.objects.select_for_update()
            .filter(user=user, purpose=OtpPurpose.ACCOUNT_DELETE, status=OtpStatus.SENT)
            .order_by("-created_at")
            .first()
        )
        reason = otp_failure(otp=otp, code=code)
        if otp is not None and not reason:
            OtpRequest.objects.filter(pk=otp.pk).update(status=OtpStatus.USED, used_at=timezone.now())
            _account_deactivate(user=user, client=client)
    if otp is None:
        raise WrongCodes(f"No deletion is waiting for confirmation. Ask for a code with POST {DELETE_START_PATH}.")
    if reason:
        raise WrongCodes(
            f"The code is wrong, expired or used up. Each code allows {settings.ACCOUNTS['OTP_MAX_ATTEMPTS']} wrong "
            f"guesses; ask for a new one with POST {DELETE_START_PATH}."
        )


def _account_deactivate(*, user: User, client: Client) -> None:
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
