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

from apps.accounts import contact_change
from apps.accounts.channels import channel_configured, deliver
from apps.accounts.contact_change import TELEGRAM, ChangeRefused, owner_channel
from apps.accounts.models import Activity, Channel, User
from apps.accounts.services import Client, activity_record, supersede_telegram_sign_in_codes

LINK_PATH = TELEGRAM.path


def link_start(user: User, chat_id: str, *, client: Client) -> str:
    """Send one code to the new chat and one to the owner's channel; return that channel's name.

    Raises ChangeRefused, or DeliveryFailed (then no link is pending)."""
    if not channel_configured(Channel.TELEGRAM):
        raise ChangeRefused("Telegram sign-in is not configured on this server.")
    if chat_id == user.telegram_chat_id:
        raise ChangeRefused("This chat is already linked to your account.")
    return contact_change.start(TELEGRAM, user, chat_id, Channel.TELEGRAM, client=client)


def link_confirm(user: User, telegram_code: str, account_code: str, *, client: Client) -> User:
    """Link the chat when both codes are right. Raises contact_change.WrongCodes naming the wrong ones."""
    previous = contact_change.confirm(TELEGRAM, user, telegram_code, account_code, client=client)
    if previous and previous != user.telegram_chat_id:
        _tell_chat_quietly(previous, "This chat no longer receives sign-in codes: the account linked another chat.")
    return user


def unlink(user: User, *, client: Client) -> User:
    """Remove the chat once the owner's other channel has been told. Raises ChangeRefused, or DeliveryFailed (then
    nothing changed: an unlink nobody hears of is what a thief would want)."""
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
    with transaction.atomic():
        user.telegram_chat_id = ""
        user.save(update_fields=["telegram_chat_id"])
        supersede_telegram_sign_in_codes(user)
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
    contact_change.tell_quietly(
        Channel.TELEGRAM, chat_id, subject="", text=f"{settings.PROJECT_NAME}: {text}", template="", context={}
    )
