"""Delivering a one-time code (or a notice) over a channel. Sends happen now, in the request: the caller must know
the outcome, and a queued task would store the code in its arguments."""

from __future__ import annotations

import contextlib
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.accounts.exceptions import ChannelMismatch, ChannelUnavailable, DeliveryFailed, RecipientRefused
from apps.accounts.identifiers import Identifier
from apps.accounts.models import Channel, OtpPurpose
from modules.email.mailer import DjangoEmailService, recipient_refused
from modules.telegram.client import DjangoTelegram, TelegramError, TimeBound
from modules.twilio.client import DjangoTwilio, TwilioError

# Someone waits on every send made here (a web request): no long retry_after waits, a short total. Telegram is the
# provider that retries; SMTP and Twilio make one attempt within their configured timeouts.
IN_REQUEST = TimeBound(total_seconds=10.0, max_wait_seconds=3.0)
# The recipient of a message built and never sent (rehearse_code): a reserved domain, RFC 2606.
WITHHELD_ADDRESS = "withheld@example.invalid"


def channel_configured(channel: str) -> bool:
    twilio = settings.TWILIO
    twilio_ready = bool(twilio["ACCOUNT_SID"] and twilio["AUTH_TOKEN"])
    ready = {
        Channel.EMAIL: bool(settings.MAILERS.get("default")),
        Channel.SMS: twilio_ready and bool(twilio["FROM_NUMBER"]),
        Channel.WHATSAPP: twilio_ready and bool(twilio["WHATSAPP_FROM"]),
        Channel.TELEGRAM: bool(settings.TELEGRAM["BOT_TOKEN"]),
    }
    return channel in settings.ACCOUNTS["OTP_CHANNELS"] and ready.get(Channel(channel), False)


def available_channels() -> list[str]:
    return [channel for channel in Channel.values if channel_configured(channel)]


def channel_check(*, identifier: Identifier, channel: str) -> None:
    """Raise ChannelUnavailable when the channel is not configured, ChannelMismatch when it cannot reach the
    identifier."""
    if not channel_configured(channel):
        offered = ", ".join(available_channels()) or "none"
        raise ChannelUnavailable(f"The {channel} channel is not configured on this server. Available: {offered}.")
    if channel == Channel.EMAIL and identifier.kind != "email":
        raise ChannelMismatch("The email channel needs an email address as identifier.")
    if channel in (Channel.SMS, Channel.WHATSAPP) and identifier.kind != "phone":
        raise ChannelMismatch(f"The {channel} channel needs a phone number in international form, e.g. +15551234567.")


@dataclass(frozen=True)
class CodeMessage:
    """How a code of one purpose is worded: `subject` ("Your <project> <subject> code"), the email `template`
    and the `text` for the other channels (formatted with code, minutes, project and target, the chat, address
    or number being linked)."""

    subject: str
    template: str
    text: str


NOT_YOU = "If you did not ask for this, do not share it: someone may be using your account."
CODE_MESSAGES = {
    OtpPurpose.SIGN_IN: CodeMessage(
        "sign-in",
        "otp_code",
        "{code} is your {project} sign-in code. It expires in {minutes} minutes. Never share it.",
    ),
    OtpPurpose.TELEGRAM_CHAT: CodeMessage(
        "Telegram link",
        "telegram_link_code",
        "{code} is your code to link this Telegram chat to your {project} account. "
        "It expires in {minutes} minutes. Never share it.",
    ),
    OtpPurpose.TELEGRAM_OWNER: CodeMessage(
        "Telegram link",
        "telegram_link_code",
        "{code} confirms linking Telegram chat {target} to your {project} account for sign-in. "
        f"It expires in {{minutes}} minutes. {NOT_YOU}",
    ),
    OtpPurpose.EMAIL_NEW: CodeMessage(
        "email change",
        "email_change_code",
        "{code} confirms {target} as the new email address of your {project} account. "
        "It expires in {minutes} minutes. Never share it.",
    ),
    OtpPurpose.EMAIL_OWNER: CodeMessage(
        "email change",
        "email_change_code",
        "{code} confirms changing the email address of your {project} account to {target}. "
        f"It expires in {{minutes}} minutes. {NOT_YOU}",
    ),
    OtpPurpose.PHONE_NEW: CodeMessage(
        "phone change",
        "phone_change_code",
        "{code} confirms this number as the new phone number of your {project} account. "
        "It expires in {minutes} minutes. Never share it.",
    ),
    OtpPurpose.PHONE_OWNER: CodeMessage(
        "phone change",
        "phone_change_code",
        "{code} confirms changing the phone number of your {project} account to {target}. "
        f"It expires in {{minutes}} minutes. {NOT_YOU}",
    ),
    OtpPurpose.ACCOUNT_DELETE: CodeMessage(
        "account deletion",
        "account_delete_code",
        f"{{code}} confirms deleting your {{project}} account. It expires in {{minutes}} minutes. {NOT_YOU}",
    ),
}
# The codes that go to the new chat, address or number (the others go to the account's existing channel).
NEW_PURPOSES = (OtpPurpose.TELEGRAM_CHAT, OtpPurpose.EMAIL_NEW, OtpPurpose.PHONE_NEW)


def code_text(code: str, minutes: int, purpose: str = OtpPurpose.SIGN_IN, target: str = "") -> str:
    text = CODE_MESSAGES[OtpPurpose(purpose)].text
    return text.format(code=code, minutes=minutes, project=settings.PROJECT_NAME, target=target)


def deliver_code(
    channel: str, destination: str, code: str, minutes: int, *, purpose: str = OtpPurpose.SIGN_IN, target: str = ""
) -> None:
    message = CODE_MESSAGES[OtpPurpose(purpose)]
    deliver(
        channel,
        destination,
        subject=f"Your {settings.PROJECT_NAME} {message.subject} code",
        text=code_text(code, minutes, purpose, target),
        template=message.template,
        context={"code": code, "minutes": minutes, "target": target, "to_new": purpose in NEW_PURPOSES},
    )


def rehearse_code(channel: str, minutes: int, *, purpose: str = OtpPurpose.SIGN_IN) -> None:
    """What deliver_code costs, sending nothing: the message built as it would be, then one round trip to the
    provider. It follows the answer for an identifier that is sent nothing (apps.accounts.services.otp_request), so
    that the work after the answer is alike too: the web process's next requests would otherwise time it. A
    provider failure here has nobody to tell."""
    message = CODE_MESSAGES[OtpPurpose(purpose)]
    code = "0" * 6
    if channel == Channel.EMAIL:
        context = {"code": code, "minutes": minutes, "target": "", "to_new": purpose in NEW_PURPOSES}
        subject = f"Your {settings.PROJECT_NAME} {message.subject} code"
        DjangoEmailService().build(WITHHELD_ADDRESS, subject, message.template, context).message().as_bytes()
    else:
        code_text(code, minutes, purpose)
    with contextlib.suppress(DeliveryFailed):
        probe(channel)


def probe(channel: str) -> None:
    """One round trip to the channel's provider that sends nothing, bounded like a send: what a sign-in request
    that sends no code does instead (apps.accounts.services.otp_request). Telegram: getMe; email: open a connection
    to the mailer (with its TLS and login), NOOP, close; SMS and WhatsApp: fetch the Twilio account. Raises
    DeliveryFailed (never RecipientRefused: there is no recipient) when the provider is out."""
    with _provider_errors(recipient=False):
        if channel == Channel.EMAIL:
            DjangoEmailService().probe()
        elif channel in (Channel.SMS, Channel.WHATSAPP):
            DjangoTwilio().ping()
        elif channel == Channel.TELEGRAM:
            DjangoTelegram(bound=IN_REQUEST).get_me()
        else:
            raise DeliveryFailed(f"unknown channel {channel}")


def deliver(channel: str, destination: str, *, subject: str, text: str, template: str, context: dict[str, Any]) -> None:
    """Send one message: email renders `template`, the other channels send `text`. Raises DeliveryFailed
    (RecipientRefused when the destination itself was refused)."""
    with _provider_errors(recipient=True):
        if channel == Channel.EMAIL:
            DjangoEmailService().send(destination, subject, template, context)
        elif channel == Channel.SMS:
            DjangoTwilio().send_sms(destination, text)
        elif channel == Channel.WHATSAPP:
            DjangoTwilio().send_whatsapp(destination, text)
        elif channel == Channel.TELEGRAM:
            DjangoTelegram(bound=IN_REQUEST).send_message(destination, text)
        else:
            raise DeliveryFailed(f"unknown channel {channel}")


@contextmanager
def _provider_errors(*, recipient: bool) -> Iterator[None]:
    """The providers' errors as DeliveryFailed; as RecipientRefused when there is a `recipient` and the provider
    refused that destination itself."""
    try:
        yield
    except (TwilioError, TelegramError) as error:
        refused = recipient and error.recipient_refused
        raise (RecipientRefused if refused else DeliveryFailed)(str(error)) from error
    except (smtplib.SMTPException, OSError) as error:
        refused = recipient and recipient_refused(error)
        raise (RecipientRefused if refused else DeliveryFailed)(f"email: {type(error).__name__}: {error}") from error
