from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.forms import ValidationError

from modules.email.mailer import DjangoEmailService


class Command(BaseCommand):
    help = "Send a test email to ADDRESS through the configured mailer, now (not through the task queue)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("address", help="Recipient email address")

    def handle(self, *args: Any, **options: Any) -> None:
        address = options["address"]
        try:
            validate_email(address)
        except ValidationError:
            raise CommandError(f"{address!r} is not an email address") from None
        backend = settings.MAILERS["default"]["BACKEND"]
        self.stdout.write(f"Sending a test email to {address} via {backend} ...")
        try:
            DjangoEmailService().send(address, f"{settings.PROJECT_NAME}: test email", "test_email", {})
        except Exception as error:  # SMTP errors, refused connections, bad file paths: all end the command
            raise CommandError(f"sending failed: {type(error).__name__}: {error}") from error
        self.stdout.write(self.style.SUCCESS(f"Sent to {address}."))
