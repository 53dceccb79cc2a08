"""A local HTTP server that speaks the Telegram Bot API and records every call: for tests."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl

from modules.local_http import json_server


@dataclass
class BotCall:
    token: str
    method: str
    data: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


class FakeTelegram:
    def __init__(self) -> None:
        self.calls: list[BotCall] = []
        # Answers given before the normal ones: (the method they answer, or None for any), status, body.
        self.script: list[tuple[str | None, int, dict[str, Any]]] = []
        self.next_message_id = 1
        self.url = ""

    def fail_next(
        self, status: int, description: str = "Internal Server Error", *, method: str | None = None, **parameters: Any
    ) -> None:
        """Answer the next call (of `method` only, when given) with an error."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.script.append((method, status, body))

    def messages_to(self, chat_id: int | str) -> list[str]:
        return [
            str(call.data.get("text") or call.data.get("caption") or "")
            for call in self.calls
            if str(call.data.get("chat_id")) == str(chat_id)
        ]

    def answer(self, call: BotCall) -> tuple[int, dict[str, Any]]:
        self.calls.append(call)
        for index, (method, status, body) in enumerate(self.script):
            if method in (None, call.method):
                del self.script[index]
                return status, body
        if call.method == "getMe":
            return 200, {"ok": True, "result": {"id": 1, "is_bot": True, "username": "test_bot"}}
        message_id, self.next_message_id = self.next_message_id, self.next_message_id + 1
        chat = call.data.get("chat_id")
        return 200, {"ok": True, "result": {"message_id": message_id, "chat": {"id": chat}, "date": 0}}


def _parse(headers: Any, body: bytes) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    content_type = headers.get("Content-Type", "")
    if content_type.startswith("application/json"):
        return json.loads(body or b"{}"), {}
    if content_type.startswith("multipart/form-data"):
        message = email.message_from_bytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP
        )
        data: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if not isinstance(name, str) or not isinstance(payload, bytes):  # what httpx never sends
                raise ValueError(f"a form-data part without a plain name or content: {part}")
            filename = part.get_filename()
            if filename:
                files[name] = (filename, payload)
            else:
                data[name] = payload.decode()
        return data, files
    return dict(parse_qsl(body.decode())), {}


@contextmanager
def telegram_server() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()

    def answer(path: str, headers: Message, body: bytes) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        data, files = _parse(headers, body)
        return fake.answer(BotCall(parts[0][3:], parts[1], data, files))

    with json_server(answer) as url:
        fake.url = url
        yield fake


def telegram_settings(fake: FakeTelegram, *, token: str = "123:test-token", chat_id: str = "-1001") -> dict[str, Any]:  # noqa: S107
    return {
        "BOT_TOKEN": token,
        "CHAT_ID": chat_id,
        "API_BASE_URL": fake.url,
        "TIMEOUT": 5,
        "MAX_RETRIES": 2,
        "BACKOFF_SECONDS": 0.0,
        "MAX_RETRY_AFTER": 0,
    }
