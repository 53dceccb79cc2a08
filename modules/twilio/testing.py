"""A local HTTP server that speaks Twilio's REST endpoints (Account, Messages, Verify) and records every call: for
tests."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl

from modules.local_http import json_server

ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)\.json$")
MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Messages\.json$")
VERIFICATIONS = re.compile(r"^/v2/Services/(?P<service>VA\w+)/Verifications$")
VERIFICATION_CHECK = re.compile(r"^/v2/Services/(?P<service>VA\w+)/VerificationCheck$")


@dataclass
class TwilioCall:
    path: str
    username: str
    password: str
    data: dict[str, str]


class FakeTwilio:
    def __init__(self) -> None:
        self.calls: list[TwilioCall] = []
        # (status, Twilio error code, message, whether only a message send takes it)
        self.failures: list[tuple[int, int, str, bool]] = []
        self.verify_code = "424242"
        self.url = ""

    def fail_next(
        self,
        status: int = 500,
        code: int | None = None,
        message: str = "Service unavailable",
        *,
        sends_only: bool = False,
    ) -> None:
        """Answer the next call (the next message send, with `sends_only`) with an error: `code` is Twilio's error
        code (e.g. 21211, invalid 'To' number)."""
        self.failures.append((status, code if code is not None else 20000 + status, message, sends_only))

    def messages(self) -> list[dict[str, str]]:
        return [call.data for call in self.calls if MESSAGES.match(call.path)]

    def answer(self, call: TwilioCall) -> tuple[int, dict[str, Any]]:
        self.calls.append(call)
        is_send = bool(MESSAGES.match(call.path))
        for index, (status, code, message, sends_only) in enumerate(self.failures):
            if is_send or not sends_only:
                del self.failures[index]
                return status, {"code": code, "message": message, "status": status}
        if match := ACCOUNT.match(call.path):
            return 200, {"sid": match["account"], "friendly_name": "Test account", "status": "active", "type": "Full"}
        if match := MESSAGES.match(call.path):
            return 201, {
                "sid": "SM" + secrets.token_hex(16),
                "account_sid": match["account"],
                "to": call.data.get("To"),
                "from": call.data.get("From"),
                "body": call.data.get("Body"),
                "status": "queued",
            }
        if match := VERIFICATIONS.match(call.path):
            return 201, {
                "sid": "VE" + secrets.token_hex(16),
                "service_sid": match["service"],
                "to": call.data.get("To"),
                "channel": call.data.get("Channel"),
                "status": "pending",
            }
        if match := VERIFICATION_CHECK.match(call.path):
            approved = call.data.get("Code") == self.verify_code
            return 200, {
                "sid": "VE" + secrets.token_hex(16),
                "service_sid": match["service"],
                "to": call.data.get("To"),
                "status": "approved" if approved else "pending",
                "valid": approved,
            }
        return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}


@contextmanager
def twilio_server() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()

    def answer(path: str, headers: Message, body: bytes) -> tuple[int, dict[str, Any]]:
        data = dict(parse_qsl(body.decode()))
        scheme, _, encoded = headers.get("Authorization", "").partition(" ")
        username, _, password = base64.b64decode(encoded).decode().partition(":") if scheme == "Basic" else ("", "", "")
        return fake.answer(TwilioCall(path, username, password, data))

    with json_server(answer) as url:
        fake.url = url
        yield fake


def twilio_settings(fake: FakeTwilio) -> dict[str, Any]:
    return {
        "ACCOUNT_SID": "AC" + "0" * 32,
        "AUTH_TOKEN": "test-auth-token",
        "FROM_NUMBER": "+15550000001",
        "WHATSAPP_FROM": "+15550000002",
        "VERIFY_SERVICE_SID": "VA" + "0" * 32,
        "API_BASE_URL": fake.url,
        "TIMEOUT": 5,
    }
