"""Telegram Bot API over httpx: DjangoTelegram, send_telegram_message(), send_telegram_photo()."""
