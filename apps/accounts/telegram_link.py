"""Linking and unlinking the Telegram chat that receives sign-in codes.

The chat is a sign-in channel, so an access token alone cannot change it (a stolen one would otherwise point
sign-in at the thief's chat for good). Linking takes two codes entered together (apps.accounts.contact_change): one
sent to the new chat (it is reachable and belongs to the caller) and one sent to the account's existing channel (the
owner agrees). Unlinking takes effect at once, but only once the owner has been told over another channel, and
never when Telegram is the only way the account can sign in.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from apps.accounts.activity import Client, activity_record
from apps.accounts.channels import channel_configured, deliver
from apps.accounts.contact_change import TELEGRAM, change_confirm, change_start, owner_channel, tell_quietly
from apps.accounts.exceptions import ChangeRefused, DeliveryFailed, ProviderUnavailable
from apps.accounts.models import Activity, Channel, User
from apps.accounts.otp import otp_supersede_telegram_sign_in

LINK_PATH = TELEGRAM.path


def telegram_link_start(*, user: User, chat_id: str, client: Client) -> str:
    """Send one code to the new chat and one to the owner's channel; return that channel's name.

    Raises ChangeRefused, or ProviderUnavailable (then no link is pending)."""
    if not channel_configured(Channel.TELEGRAM):
        raise ChangeRefused("Telegram sign-in is not configured on this server.")
    if chat_id == user.telegram_chat_id:
        raise ChangeRefused("This chat is already linked to your account.")
    try:
        return change_start(flow=TELEGRAM, user=user, new_value=chat_id, new_channel=Channel.TELEGRAM, client=client)
    except DeliveryFailed as failure:
        raise ProviderUnavailable(
            "A code could not be sent (to the Telegram chat or to your account); nothing is pending. Check that "
            "the chat has started a conversation with the bot, then try again."
        ) from failure


def telegram_link_confirm(*, user: User, telegram_code: str, account_code: str, client: Client) -> User:
    """Link the chat when both codes are right. Raises WrongCodes naming the wrong ones."""
    previous = change_confirm(
        flow=TELEGRAM, user=user, new_code=telegram_code, account_code=account_code, client=client
    )
    if previous and previous != user.telegram_chat_id:
        _tell_chat_quietly(previous, "This chat no longer receives sign-in codes: the account linked another chat.")
    return user


def telegram_unlink(*, user: User, client: Client) -> User:
    """Remove the chat once the owner's other channel has been told. Raises ChangeRefused, or ProviderUnavailable
    (then nothing changed: an unlink nobody hears of is what a thief would want)."""
    chat_id = user.telegram_chat_id
    if not chat_id:
        raise ChangeRefused("No Telegram chat is linked to your account.")
    owner = owner_channel(user, allow_telegram=False)
    if owner is None:
        raise ChangeRefused(
            "Telegram is the only way your account can sign in on this server; unlinking it would lock you out. "
            f"Link another chat instead with POST {LINK_PATH}."
        )
    channel, destination = owner
    try:
        with transaction.atomic():
            user.telegram_chat_id = ""
            user.save(update_fields=["telegram_chat_id"])
            otp_supersede_telegram_sign_in(user=user)
            activity_record(action=Activity.TELEGRAM_UNLINKED, user=user, client=client, chat_id=chat_id, told=channel)
            deliver(
                channel,
                destination,
                subject=f"Telegram was unlinked from your {settings.PROJECT_NAME} account",
                text=(
                    f"Telegram chat {chat_id} was unlinked from your {settings.PROJECT_NAME} account. If this was "
                    "not you, sign in, link it again and sign out of your other sessions."
                ),
                template="telegram_unlinked",
                context={"chat_id": chat_id},
            )
    except DeliveryFailed as failure:
        raise ProviderUnavailable(
            "The notice to your account's other channel could not be sent, so the chat stays linked. Try again later."
        ) from failure
    _tell_chat_quietly(chat_id, "This chat no longer receives sign-in codes: it was unlinked from your account.")
    return user


def _tell_chat_quietly(chat_id: str, text: str) -> None:
    # A courtesy to the chat that lost its link; the owner's main channel was told already, and the user may have
    # blocked the bot, so a failure here is logged, not raised.
    tell_quietly(
        Channel.TELEGRAM, chat_id, subject="", text=f"{settings.PROJECT_NAME}: {text}", template="", context={}
    )
