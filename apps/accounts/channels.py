"""Delivering a one-time code (or a notice) over a channel. Sends happen now, in the request: the caller must know
the outcome, and a queued task would store the code in its arguments."""

from __future__ import annotations

import smtplib

from django.conf import settings

from apps.accounts.models import Channel, OtpPurpose
from modules.email.service import DjangoEmailService
from modules.telegram.client import DjangoTelegram, TelegramError
from modules.twilio.client import DjangoTwilio, TwilioError


class DeliveryFailed(Exception):
    """The provider could not take the message; `reason` is safe to store (it never holds the code)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:255]


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


def code_text(code: str, minutes: int, purpose: str = OtpPurpose.SIGN_IN, chat_id: str = "") -> str:
    project = settings.PROJECT_NAME
    if purpose == OtpPurpose.TELEGRAM_CHAT:
        return (
            f"{code} is your code to link this Telegram chat to your {project} account. "
            f"It expires in {minutes} minutes. Never share it."
        )
    if purpose == OtpPurpose.TELEGRAM_OWNER:
        return (
            f"{code} confirms linking Telegram chat {chat_id} to your {project} account for sign-in. "
            f"It expires in {minutes} minutes. If you did not ask for this, do not share it: "
            "someone may be using your account."
        )
    return f"{code} is your {project} sign-in code. It expires in {minutes} minutes. Never share it."


def deliver_code(
    channel: str, destination: str, code: str, minutes: int, *, purpose: str = OtpPurpose.SIGN_IN, chat_id: str = ""
) -> None:
    signing_in = purpose == OtpPurpose.SIGN_IN
    deliver(
        channel,
        destination,
        subject=f"Your {settings.PROJECT_NAME} {'sign-in' if signing_in else 'Telegram link'} code",
        text=code_text(code, minutes, purpose, chat_id),
        template="otp_code" if signing_in else "telegram_link_code",
        context={"code": code, "minutes": minutes, "chat_id": chat_id},
    )


def deliver(channel: str, destination: str, *, subject: str, text: str, template: str, context: dict) -> None:
    """Send one message: email renders `template`, the other channels send `text`. Raises DeliveryFailed."""
    try:
        if channel == Channel.EMAIL:
            DjangoEmailService().send(destination, subject, template, context)
        elif channel == Channel.SMS:
            DjangoTwilio().send_sms(destination, text)
        elif channel == Channel.WHATSAPP:
            DjangoTwilio().send_whatsapp(destination, text)
        elif channel == Channel.TELEGRAM:
            DjangoTelegram().send_message(destination, text)
        else:
            raise DeliveryFailed(f"unknown channel {channel}")
    except (TwilioError, TelegramError) as error:
        raise DeliveryFailed(str(error)) from error
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"email: {type(error).__name__}: {error}") from error
