"""A small Bot API client: retries with backoff on 429 and 5xx, honouring Telegram's retry_after."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings

if TYPE_CHECKING:
    import httpx

ParseMode = Literal["HTML", "Markdown", "MarkdownV2"] | None
FileInput = str | bytes | tuple[str, bytes]


class TelegramError(Exception):
    """Telegram refused the call, or could not be reached. `retryable` says whether an outage caused it."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable

    @property
    def recipient_refused(self) -> bool:
        """Telegram refused this chat, not the bot: 400 (chat not found, bad chat id) or 403 (the user blocked the
        bot, never started it, was deactivated, or the bot was removed from the group). Another chat would work;
        a retry to this one would not. Everything else (401/404 bad token, 429, 5xx, network) is the bot's side."""
        return self.status in (400, 403)


class TelegramNotConfigured(TelegramError):
    """TELEGRAM__BOT_TOKEN (or the chat id) is not set."""


@dataclass(frozen=True)
class TimeBound:
    """A limit for a call someone is waiting on (a web request), instead of the patient defaults meant for background
    work. `total_seconds` covers the whole call: every attempt (each one's timeout shrinks to what is left) and every
    wait. A wait longer than `max_wait_seconds` (a large retry_after, say), or one that would end past the total, is
    not made: the call fails at once with the last (retryable) error."""

    total_seconds: float = 10.0
    max_wait_seconds: float = 3.0


class DjangoTelegram:
    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff_seconds: float | None = None,
        max_retry_after: float | None = None,
        bound: TimeBound | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        conf = settings.TELEGRAM
        self.token: str = token if token is not None else conf["BOT_TOKEN"]
        if not self.token:
            raise TelegramNotConfigured("Telegram is not configured: set TELEGRAM__BOT_TOKEN")
        self.base_url: str = (base_url or conf["API_BASE_URL"]).rstrip("/")
        self.timeout: float = timeout if timeout is not None else conf["TIMEOUT"]
        self.max_retries: int = max_retries if max_retries is not None else conf["MAX_RETRIES"]
        self.backoff_seconds: float = backoff_seconds if backoff_seconds is not None else conf["BACKOFF_SECONDS"]
        self.max_retry_after: float = max_retry_after if max_retry_after is not None else conf["MAX_RETRY_AFTER"]
        self.bound = bound
        self.sleep = sleep
        self.clock = clock
        self.transport = transport

    def call(self, method: str, data: Mapping[str, Any], files: Mapping[str, Any] | None = None) -> Any:
        """POST a Bot API method; returns its `result`. Retries 429 and 5xx answers and network errors, within
        `bound` when the client has one."""
        url = f"{self.base_url}/bot{self.token}/{method}"
        payload = {key: value for key, value in data.items() if value is not None}
        deadline = self.clock() + self.bound.total_seconds if self.bound else None
        attempt = 0
        import httpx  # loaded by the first call: a process that sends no message never pays for it

        with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
            while True:
                timeout = self.timeout if deadline is None else max(0.001, min(self.timeout, deadline - self.clock()))
                try:
                    if files:
                        response = client.post(url, data=_form(payload), files=files, timeout=timeout)
                    else:
                        response = client.post(url, json=payload, timeout=timeout)
                except httpx.HTTPError as error:
                    # The token is part of the URL: never put the URL in the message.
                    failure = TelegramError(f"{method}: Telegram unreachable ({type(error).__name__})", retryable=True)
                    delay = self._backoff(attempt)
                else:
                    body = _json(response)
                    if response.status_code == 200 and body.get("ok"):
                        return body.get("result")
                    description = body.get("description") or response.reason_phrase
                    retryable = response.status_code == 429 or response.status_code >= 500
                    failure = TelegramError(
                        f"{method}: {response.status_code} {description}",
                        status=response.status_code,
                        retryable=retryable,
                    )
                    retry_after = (body.get("parameters") or {}).get("retry_after")
                    if response.status_code == 429 and isinstance(retry_after, int | float):
                        # Bounded, a wait longer than the bound allows fails the call (_may_wait): shortening it
                        # would only earn another 429. Unbounded, the wait is capped at max_retry_after.
                        delay = float(retry_after) if self.bound else min(float(retry_after), self.max_retry_after)
                    else:
                        delay = self._backoff(attempt)
                if not failure.retryable or attempt >= self.max_retries or not self._may_wait(delay, deadline):
                    raise failure
                attempt += 1
                self.sleep(delay)

    def _may_wait(self, delay: float, deadline: float | None) -> bool:
        if self.bound is None or deadline is None:
            return True
        return delay <= self.bound.max_wait_seconds and self.clock() + delay < deadline

    def _backoff(self, attempt: int) -> float:
        return float(self.backoff_seconds * 2**attempt)

    def get_me(self) -> dict[str, Any]:
        """The bot's own user: a call that sends nothing, to check the token and that Telegram answers."""
        return self._call_for_object("getMe", {})

    def send_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        parse_mode: ParseMode = None,
        disable_notification: bool | None = None,
        disable_web_page_preview: bool | None = None,
    ) -> dict[str, Any]:
        return self._call_for_object(
            "sendMessage",
            {
                "chat_id": chat_id,
                "text": text,
                "parse_mode": parse_mode,
                "disable_notification": disable_notification,
                "link_preview_options": {"is_disabled": True} if disable_web_page_preview else None,
            },
        )

    def send_photo(
        self, chat_id: int | str, photo: FileInput, *, caption: str | None = None, parse_mode: ParseMode = None
    ) -> dict[str, Any]:
        return self._send_file("sendPhoto", "photo", chat_id, photo, caption=caption, parse_mode=parse_mode)

    def send_document(
        self, chat_id: int | str, document: FileInput, *, caption: str | None = None, parse_mode: ParseMode = None
    ) -> dict[str, Any]:
        return self._send_file("sendDocument", "document", chat_id, document, caption=caption, parse_mode=parse_mode)

    def _send_file(
        self,
        method: str,
        field: str,
        chat_id: int | str,
        file: FileInput,
        *,
        caption: str | None,
        parse_mode: ParseMode,
    ) -> dict[str, Any]:
        data = {"chat_id": chat_id, "caption": caption, "parse_mode": parse_mode}
        if isinstance(file, str):  # a URL or a file_id Telegram already knows
            return self._call_for_object(method, {**data, field: file})
        name, content = file if isinstance(file, tuple) else (field, file)
        return self._call_for_object(method, data, files={field: (name, content)})

    def _call_for_object(
        self, method: str, data: Mapping[str, Any], files: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """call() for the methods whose `result` is a JSON object (a User, a Message)."""
        result: dict[str, Any] = self.call(method, data, files)
        return result


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _form(payload: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in payload.items()}


def send_telegram_message(text: str, chat_id: int | str | None = None, *, parse_mode: ParseMode = None) -> Any:
    """Send to chat_id, or to the configured admin chat (TELEGRAM__CHAT_ID)."""
    return DjangoTelegram().send_message(_chat(chat_id), text, parse_mode=parse_mode)


def send_telegram_photo(
    photo: FileInput, chat_id: int | str | None = None, *, caption: str | None = None, parse_mode: ParseMode = None
) -> Any:
    return DjangoTelegram().send_photo(_chat(chat_id), photo, caption=caption, parse_mode=parse_mode)


def _chat(chat_id: int | str | None) -> int | str:
    chosen = chat_id if chat_id not in (None, "") else settings.TELEGRAM["CHAT_ID"]
    if not chosen:
        raise TelegramNotConfigured("no chat given and TELEGRAM__CHAT_ID is not set")
    return chosen
