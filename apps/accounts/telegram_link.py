"""Linking and unlinking the Telegram chat that receives sign-in codes.

The chat is a sign-in channel, so an access token alone cannot change it (a stolen one would otherwise point
sign-in at the thief's chat for good). Linking takes two codes entered together: one sent to the new chat (it is
reachable and belongs to the caller) and one sent to the account's existing channel (the owner agrees). Unlinking
takes effect at once, but only once the owner has been told over another channel, and never when Telegram is the
only way the account can sign in.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.channels import DeliveryFailed, channel_configured, deliver
from apps.accounts.models import Activity, Channel, OtpPurpose, OtpRequest, OtpStatus, User
from apps.accounts.services import Client, activity_record, code_failure, issue_code

logger = logging.getLogger(__name__)

LINK_PATH = "/api/accounts/me/telegram/"


class LinkRefused(Exception):
    """The link or unlink cannot be done as asked; the message says why and what to do."""


class WrongLinkCodes(Exception):
    """One or both codes of a pending link are wrong, expired or used up."""


def owner_channel(user: User, *, allow_telegram: bool) -> tuple[str, str] | None:
    """(channel, destination) where the account already receives codes: email first, then phone, then (when
    allowed) the chat linked now. None when the account has no such channel on this server."""
    if user.email and channel_configured(Channel.EMAIL):
        return Channel.EMAIL, user.email
    if user.phone:
        for channel in (Channel.SMS, Channel.WHATSAPP):
            if channel_configured(channel):
                return channel, user.phone
    if allow_telegram and user.telegram_chat_id and channel_configured(Channel.TELEGRAM):
        return Channel.TELEGRAM, user.telegram_chat_id
    return None


def link_start(user: User, chat_id: str, *, client: Client) -> str:
    """Send one code to the new chat and one to the owner's channel; return that channel's name.

    Raises LinkRefused, or DeliveryFailed (then no link is pending)."""
    if not channel_configured(Channel.TELEGRAM):
        raise LinkRefused("Telegram sign-in is not configured on this server.")
    if chat_id == user.telegram_chat_id:
        raise LinkRefused("This chat is already linked to your account.")
    owner = owner_channel(user, allow_telegram=True)
    if owner is None:
        raise LinkRefused(
            "Your account has no channel this server can send a confirmation code to, so the chat cannot be linked "
            "here. Ask an administrator to link it."
        )
    owner_kind, owner_destination = owner
    activity_record(Activity.TELEGRAM_LINK_REQUESTED, user=user, client=client, chat_id=chat_id, owner=owner_kind)
    chat_otp = issue_code(
        chat_id, Channel.TELEGRAM, chat_id, purpose=OtpPurpose.TELEGRAM_CHAT, user=user, client=client
    )
    try:
        issue_code(
            owner_destination,
            owner_kind,
            owner_destination,
            purpose=OtpPurpose.TELEGRAM_OWNER,
            user=user,
            client=client,
            chat_id=chat_id,
        )
    except DeliveryFailed:
        # Half a link is no link: the chat's code must not pair with an older owner code still outstanding.
        OtpRequest.objects.filter(pk=chat_otp.pk).update(status=OtpStatus.SUPERSEDED)
        raise
    return owner_kind


def link_confirm(user: User, telegram_code: str, account_code: str, *, client: Client) -> User:
    """Link the chat when both codes are right. Raises WrongLinkCodes naming the wrong ones (wrong guesses count
    against each code's attempts, so they are committed before raising)."""
    previous = user.telegram_chat_id
    with transaction.atomic():
        pending = OtpRequest.objects.select_for_update().filter(user=user, status=OtpStatus.SENT)
        pending = pending.order_by("-created_at")
        chat_otp = pending.filter(purpose=OtpPurpose.TELEGRAM_CHAT).first()
        owner_otp = pending.filter(purpose=OtpPurpose.TELEGRAM_OWNER).first()
        if chat_otp is None or owner_otp is None:
            failures = {"link": "no link pending"}
        else:
            failures = {
                name: reason
                for name, reason in (
                    ("telegram_code", code_failure(chat_otp, telegram_code)),
                    ("account_code", code_failure(owner_otp, account_code)),
                )
                if reason
            }
        if failures:
            activity_record(Activity.TELEGRAM_LINK_FAILED, user=user, client=client, reasons=failures)
        else:
            user.telegram_chat_id = chat_otp.identifier
            user.save(update_fields=["telegram_chat_id"])
            OtpRequest.objects.filter(pk__in=(chat_otp.pk, owner_otp.pk)).update(
                status=OtpStatus.USED, used_at=timezone.now()
            )
            activity_record(
                Activity.TELEGRAM_LINKED, user=user, client=client, chat_id=user.telegram_chat_id, previous=previous
            )
    if "link" in failures:
        raise WrongLinkCodes(
            f"No Telegram link is waiting for confirmation (never started, replaced, or already used). "
            f"Start one with POST {LINK_PATH}."
        )
    if failures:
        names = " and ".join(sorted(failures))
        raise WrongLinkCodes(
            f"Wrong, expired or used up: {names}. Each code allows {settings.ACCOUNTS['OTP_MAX_ATTEMPTS']} wrong "
            f"guesses; request new codes with POST {LINK_PATH}."
        )
    if previous and previous != user.telegram_chat_id:
        _tell_chat_quietly(previous, "This chat no longer receives sign-in codes: the account linked another chat.")
    return user


def unlink(user: User, *, client: Client) -> User:
    """Remove the chat once the owner's other channel has been told. Raises LinkRefused, or DeliveryFailed (then
    nothing changed: an unlink nobody hears of is what a thief would want)."""
    chat_id = user.telegram_chat_id
    if not chat_id:
        raise LinkRefused("No Telegram chat is linked to your account.")
    owner = owner_channel(user, allow_telegram=False)
    if owner is None:
        raise LinkRefused(
            "Telegram is the only way your account can sign in on this server; unlinking it would lock you out. "
            f"Link another chat instead with POST {LINK_PATH}."
        )
    channel, destination = owner
    with transaction.atomic():
        user.telegram_chat_id = ""
        user.save(update_fields=["telegram_chat_id"])
        activity_record(Activity.TELEGRAM_UNLINKED, user=user, client=client, chat_id=chat_id, told=channel)
        deliver(
            channel,
            destination,
            subject=f"Telegram was unlinked from your {settings.PROJECT_NAME} account",
            text=(
                f"Telegram chat {chat_id} was unlinked from your {settings.PROJECT_NAME} account. If this was not "
                "you, sign in, link it again and sign out of your other sessions."
            ),
            template="telegram_unlinked",
            context={"chat_id": chat_id},
        )
    _tell_chat_quietly(chat_id, "This chat no longer receives sign-in codes: it was unlinked from your account.")
    return user


def _tell_chat_quietly(chat_id: str, text: str) -> None:
    # A courtesy to the chat that lost its link; the owner's main channel was told already, and the user may have
    # blocked the bot, so a failure here is logged, not raised.
    try:
        deliver(Channel.TELEGRAM, chat_id, subject="", text=f"{settings.PROJECT_NAME}: {text}", template="", context={})
    except DeliveryFailed as error:
        logger.warning("could not tell Telegram chat %s it was unlinked: %s", chat_id, error.reason)
