from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from modules.telegram.client import DjangoTelegram, TelegramError


class Command(BaseCommand):
    help = "Check the bot token (getMe) and send a test message to --chat-id or TELEGRAM__CHAT_ID."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chat-id", default="", help="Chat to message; defaults to TELEGRAM__CHAT_ID")
        parser.add_argument("--text", default="", help="Message text")

    def handle(self, *args: Any, **options: Any) -> None:
        chat_id = options["chat_id"] or settings.TELEGRAM["CHAT_ID"]
        if not chat_id:
            raise CommandError("no chat to message: pass --chat-id or set TELEGRAM__CHAT_ID")
        text = options["text"] or f"{settings.PROJECT_NAME}: Telegram test message."
        try:
            telegram = DjangoTelegram()
            bot = telegram.call("getMe", {})
            self.stdout.write(f"Bot @{bot.get('username', '?')} answers; sending to chat {chat_id} ...")
            message = telegram.send_message(chat_id, text)
        except TelegramError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"Sent message {message.get('message_id')} to chat {chat_id}."))
