from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from modules.twilio.client import DjangoTwilio, TwilioError
from modules.twilio.phone import is_e164


class Command(BaseCommand):
    help = "Send a test SMS (or WhatsApp message, or start a Verify check) to an E.164 number."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("to", help="E.164 phone number, e.g. +15551234567")
        parser.add_argument("--channel", choices=("sms", "whatsapp", "verify"), default="sms")
        parser.add_argument("--text", default="", help="Message text")

    def handle(self, *args: Any, **options: Any) -> None:
        to = options["to"]
        if not is_e164(to):
            raise CommandError(f"{to!r} is not an E.164 phone number such as +15551234567")
        text = options["text"] or f"{settings.PROJECT_NAME}: Twilio test message."
        try:
            twilio = DjangoTwilio()
            if options["channel"] == "sms":
                result = f"message {twilio.send_sms(to, text).sid}"
            elif options["channel"] == "whatsapp":
                result = f"message {twilio.send_whatsapp(to, text).sid}"
            else:
                result = f"verification {twilio.verify_start(to)}"
        except TwilioError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"Twilio accepted the {options['channel']} to {to}: {result}."))
