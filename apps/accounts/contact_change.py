"""Changing a way into the account with two codes: its email address, its phone number or its Telegram chat.

Each of them signs in, so an access token alone cannot change it (a stolen one would otherwise move sign-in to the
thief for good). A change takes two codes entered together: one sent to the new address, number or chat (it is
reachable and belongs to the caller) and one sent to the account's existing channel (the owner agrees). Nothing
changes until both are confirmed. apps.accounts.telegram_link builds the Telegram link on the same steps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.activity import Client, activity_record
from apps.accounts.channels import available_channels, channel_check, channel_configured, deliver
from apps.accounts.exceptions import ChangeRefused, DeliveryFailed, ProviderUnavailable, WrongCodes
from apps.accounts.identifiers import Identifier
from apps.accounts.models import Activity, Channel, OtpPurpose, OtpRequest, OtpStatus, User
from apps.accounts.otp import otp_failure, otp_issue, otp_supersede_telegram_sign_in
from apps.accounts.selectors import user_identifier_taken

logger = logging.getLogger(__name__)

PHONE_CHANNELS = (Channel.SMS, Channel.WHATSAPP)


@dataclass(frozen=True)
class Flow:
    """One kind of confirmed change: the field it writes and the names it goes by."""

    field: Literal["email", "phone", "telegram_chat_id"]
    label: str  # "email change": named in messages
    path: str  # where a change starts
    detail: str  # the key of the new value in the activity log
    new_code: str  # the request field with the code sent to the new value
    new_channels: tuple[str, ...]  # channels the new value can be reached on, the default first
    new_purpose: str
    owner_purpose: str
    requested: str
    changed: str
    failed: str
    unreachable: str  # the end of the message when the owner cannot be asked

    @property
    def kind(self) -> Literal["email", "phone"] | None:
        """The sign-in identifier this flow changes: unique per account, checked when the change is confirmed."""
        return self.field if self.field != "telegram_chat_id" else None

    @property
    def noun(self) -> str:
        return {"email": "email address", "phone": "phone number"}.get(self.field, "Telegram chat")


TELEGRAM = Flow(
    field="telegram_chat_id",
    label="Telegram link",
    path="/api/accounts/me/telegram/",
    detail="chat_id",
    new_code="telegram_code",
    new_channels=(Channel.TELEGRAM,),
    new_purpose=OtpPurpose.TELEGRAM_CHAT,
    owner_purpose=OtpPurpose.TELEGRAM_OWNER,
    requested=Activity.TELEGRAM_LINK_REQUESTED,
    changed=Activity.TELEGRAM_LINKED,
    failed=Activity.TELEGRAM_LINK_FAILED,
    unreachable="the chat cannot be linked here. Ask an administrator to link it.",
)
EMAIL = Flow(
    field="email",
    label="email change",
    path="/api/accounts/me/email/",
    detail="email",
    new_code="new_code",
    new_channels=(Channel.EMAIL,),
    new_purpose=OtpPurpose.EMAIL_NEW,
    owner_purpose=OtpPurpose.EMAIL_OWNER,
    requested=Activity.EMAIL_CHANGE_REQUESTED,
    changed=Activity.EMAIL_CHANGED,
    failed=Activity.EMAIL_CHANGE_FAILED,
    unreachable="the address cannot be changed here. Ask an administrator to change it.",
)
PHONE = Flow(
    field="phone",
    label="phone change",
    path="/api/accounts/me/phone/",
    detail="phone",
    new_code="new_code",
    new_channels=PHONE_CHANNELS,
    new_purpose=OtpPurpose.PHONE_NEW,
    owner_purpose=OtpPurpose.PHONE_OWNER,
    requested=Activity.PHONE_CHANGE_REQUESTED,
    changed=Activity.PHONE_CHANGED,
    failed=Activity.PHONE_CHANGE_FAILED,
    unreachable="the number cannot be changed here. Ask an administrator to change it.",
)


def owner_channel(user: User, *, allow_telegram: bool) -> tuple[str, str] | None:
    """(channel, destination) where the account already receives codes: email first, then phone, then (when
    allowed) the chat linked now. None when the account has no such channel on this server."""
    if user.email and channel_configured(Channel.EMAIL):
        return Channel.EMAIL, user.email
    if user.phone and (channel := phone_channel()):
        return channel, user.phone
    if allow_telegram and user.telegram_chat_id and channel_configured(Channel.TELEGRAM):
        return Channel.TELEGRAM, user.telegram_chat_id
    return None


def phone_channel() -> str | None:
    """The channel that reaches a phone by default: SMS, else WhatsApp, whichever is configured."""
    return next((channel for channel in PHONE_CHANNELS if channel_configured(channel)), None)


def change_start(*, flow: Flow, user: User, new_value: str, new_channel: str, client: Client, **details: str) -> str:
    """Send one code to the new value over `new_channel` and one to the owner's channel; return that channel's name.

    Raises ChangeRefused, or DeliveryFailed (then no change is pending)."""
    owner = owner_channel(user, allow_telegram=True)
    if owner is None:
        raise ChangeRefused(
            f"Your account has no channel this server can send a confirmation code to, so {flow.unreachable}"
        )
    owner_kind, owner_destination = owner
    activity_record(
        action=flow.requested, user=user, client=client, **{flow.detail: new_value}, owner=owner_kind, **details
    )
    new_otp = otp_issue(
        identifier=new_value,
        channel=new_channel,
        destination=new_value,
        purpose=flow.new_purpose,
        user=user,
        client=client,
        target=new_value,
    )
    try:
        otp_issue(
            identifier=owner_destination,
            channel=owner_kind,
            destination=owner_destination,
            purpose=flow.owner_purpose,
            user=user,
            client=client,
            target=new_value,
            approves=new_otp,
        )
    except DeliveryFailed:
        # Half a change is no change: the new code must not pair with an older owner code still outstanding.
        OtpRequest.objects.filter(pk=new_otp.pk).update(status=OtpStatus.SUPERSEDED)
        raise
    return owner_kind


def change_confirm(*, flow: Flow, user: User, new_code: str, account_code: str, client: Client) -> str | None:
    """Make the change when both codes are right; return the value it replaced.

    Raises WrongCodes naming the wrong ones (wrong guesses count against each code's attempts, so they are
    committed before raising), or ChangeRefused when another account took the address or number meanwhile (the
    codes are then spent: nothing is pending).

    The pending change is the one the newest owner code approves: its message named that new value, so it confirms
    that change and no other (of two changes started at once, one's owner code never pairs with the other's new
    code)."""
    previous: str | None = getattr(user, flow.field)
    taken = False
    with transaction.atomic():
        pending = OtpRequest.objects.select_for_update().filter(user=user, status=OtpStatus.SENT)
        owner_otp = pending.filter(purpose=flow.owner_purpose).order_by("-created_at").first()
        new_otp = None
        if owner_otp is not None and owner_otp.approves_id is not None:
            new_otp = pending.filter(purpose=flow.new_purpose, pk=owner_otp.approves_id).first()
        if new_otp is None or owner_otp is None:
            failures = {"pending": f"no {flow.label} pending"}
        else:
            failures = {
                name: reason
                for name, reason in (
                    (flow.new_code, otp_failure(otp=new_otp, code=new_code)),
                    ("account_code", otp_failure(otp=owner_otp, code=account_code)),
                )
                if reason
            }
        if not failures and new_otp is not None and owner_otp is not None:
            value = new_otp.identifier
            taken = _taken_by_another_account(flow, user, value) or not _save(user, flow.field, value)
            spent = OtpRequest.objects.filter(pk__in=(new_otp.pk, owner_otp.pk))
            if taken:
                spent.update(status=OtpStatus.SUPERSEDED)
                failures = {flow.detail: "taken by another account"}
            else:
                spent.update(status=OtpStatus.USED, used_at=timezone.now())
                if flow.kind:
                    # Sign-in codes sent before the change must not sign anyone into this account by the old
                    # identifier (nor by the new one: they were asked for before it was this account's).
                    OtpRequest.objects.filter(
                        purpose=OtpPurpose.SIGN_IN,
                        status=OtpStatus.SENT,
                        identifier__in=[item.lower() for item in (previous, value) if item],
                    ).update(status=OtpStatus.SUPERSEDED)
                else:
                    # Nor by a code the replaced chat holds (stored under the email or phone, which stay).
                    otp_supersede_telegram_sign_in(user=user)
                activity_record(
                    action=flow.changed, user=user, client=client, **{flow.detail: value}, previous=previous
                )
        if failures:
            activity_record(action=flow.failed, user=user, client=client, reasons=failures)
    if taken:
        raise ChangeRefused(
            f"This {flow.noun} is already used by another account. Nothing changed; the codes are spent."
        )
    if "pending" in failures:
        raise WrongCodes(
            f"No {flow.label} is waiting for confirmation (never started, replaced, or already used). "
            f"Start one with POST {flow.path}."
        )
    if failures:
        names = " and ".join(sorted(failures))
        raise WrongCodes(
            f"Wrong, expired or used up: {names}. Each code allows {settings.ACCOUNTS['OTP_MAX_ATTEMPTS']} wrong "
            f"guesses; request new codes with POST {flow.path}."
        )
    return previous


def _taken_by_another_account(flow: Flow, user: User, value: str) -> bool:
    if flow.kind is None:
        return False  # several accounts may share a Telegram chat
    return user_identifier_taken(identifier=Identifier(flow.kind, value), excluding=user)


def _save(user: User, field: str, value: str) -> bool:
    """Write the field; False when the database refuses it as a duplicate (another account took the value after
    the check: a race the unique constraint decides). The savepoint keeps the outer transaction usable."""
    previous = getattr(user, field)
    setattr(user, field, value)
    try:
        with transaction.atomic():
            user.save(update_fields=[field])
    except IntegrityError:
        setattr(user, field, previous)
        return False
    return True


def contact_change_start(*, flow: Flow, user: User, identifier: Identifier, channel: str | None, client: Client) -> str:
    """Start changing the email address or phone number to `identifier` (canonical, as for sign-in); the new code
    goes over `channel` (or the first configured of the flow's channels). Return the owner's channel.

    A value another account has is not refused here: that answer would let any signed-in user ask whether an address
    or number has an account. The codes go out as for a free value, and change_confirm() refuses it once the caller
    has proved, with the code sent there, that the address or number is theirs.

    Raises ChangeRefused, ChannelUnavailable, ChannelMismatch, or ProviderUnavailable (then no change is pending)."""
    current = getattr(user, flow.field) or ""
    if identifier.value == current.lower():
        raise ChangeRefused(f"This is already your account's {flow.noun}.")
    channel = channel or next((name for name in flow.new_channels if channel_configured(name)), None)
    if channel is None:
        offered = ", ".join(available_channels()) or "none"
        raise ChangeRefused(
            f"No channel that can reach the new {flow.noun} ({', '.join(flow.new_channels)}) is configured on this "
            f"server, so it cannot be confirmed. Available: {offered}."
        )
    channel_check(identifier=identifier, channel=channel)
    try:
        return change_start(
            flow=flow, user=user, new_value=identifier.value, new_channel=channel, client=client, channel=channel
        )
    except DeliveryFailed as failure:
        raise ProviderUnavailable(
            f"A code could not be sent (to the new {flow.noun} or to your account); nothing is pending. "
            "Try again later."
        ) from failure


def contact_change_confirm(*, flow: Flow, user: User, new_code: str, account_code: str, client: Client) -> User:
    """Confirm a pending email or phone change, then tell the old address or number (quietly)."""
    previous = change_confirm(flow=flow, user=user, new_code=new_code, account_code=account_code, client=client)
    current = getattr(user, flow.field)
    if previous:
        project = settings.PROJECT_NAME
        text = (
            f"{project}: the {flow.noun} of your account was changed from {previous} to {current}; this one no "
            "longer signs in to it. If this was not you, sign in another way, change it back and sign out of your "
            "other sessions."
        )
        channel = Channel.EMAIL if flow.field == "email" else phone_channel()
        if channel is None:
            logger.warning("could not tell the old %s of user %s of the change: no channel", flow.noun, user.pk)
        else:
            tell_quietly(
                channel,
                previous,
                subject=f"The {flow.noun} of your {project} account was changed",
                text=text,
                template="email_changed" if channel == Channel.EMAIL else "",
                context={"previous": previous, "current": current},
            )
    return user


def tell_quietly(
    channel: str, destination: str, *, subject: str, text: str, template: str, context: dict[str, Any]
) -> None:
    """Tell the address, number or chat that lost its place in the account. A courtesy after the change: the owner
    agreed with a code, and the old address may be gone, so a failure here is logged, not raised."""
    try:
        deliver(channel, destination, subject=subject, text=text, template=template, context=context)
    except DeliveryFailed as error:
        logger.warning("could not tell the old %s destination of a change: %s", channel, error.reason)
