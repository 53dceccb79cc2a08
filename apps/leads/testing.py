"""A local HTTP server that speaks Cloudflare Turnstile's siteverify API and records every call: for tests.

with turnstile_server() as fake:
    settings.LEADS = {**settings.LEADS, **turnstile_settings(fake)}
    fake.accept = {"good-token"}      # tokens it passes; any other fails with invalid-input-response
    fake.fail_next(500)               # or answer the next call with an error status
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl

from modules.local_http import json_server

SITE_KEY = "1x00000000000000000000AA"
SECRET_KEY = "1x0000000000000000000000000000000AA"


@dataclass
class VerifyCall:
    secret: str
    response: str
    remoteip: str


@dataclass
class FakeTurnstile:
    accept: set[str] = field(default_factory=lambda: {"good-token"})
    calls: list[VerifyCall] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay_seconds: float = 0.0
    url: str = ""

    def fail_next(self, status: int) -> None:
        self.statuses.append(status)

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        form = dict(parse_qsl(body.decode()))
        call = VerifyCall(form.get("secret", ""), form.get("response", ""), form.get("remoteip", ""))
        self.calls.append(call)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if self.statuses:
            return self.statuses.pop(0), {"success": False, "error-codes": ["internal-error"]}
        if call.secret != SECRET_KEY:
            return 200, {"success": False, "error-codes": ["invalid-input-secret"]}
        if call.response in self.accept:
            return 200, {"success": True, "hostname": "testserver", "error-codes": []}
        return 200, {"success": False, "error-codes": ["invalid-input-response"]}


@contextmanager
def turnstile_server() -> Iterator[FakeTurnstile]:
    fake = FakeTurnstile()

    def answer(path: str, headers: Message, body: bytes) -> tuple[int, Any]:
        return fake.answer(body)

    with json_server(answer) as url:
        fake.url = f"{url}/turnstile/v0/siteverify"
        yield fake


def turnstile_settings(fake: FakeTurnstile, *, timeout: float = 2.0) -> dict[str, Any]:
    """The LEADS keys that switch Turnstile on against `fake`."""
    return {
        "TURNSTILE_SITE_KEY": SITE_KEY,
        "TURNSTILE_SECRET_KEY": SECRET_KEY,
        "TURNSTILE_VERIFY_URL": fake.url,
        "TURNSTILE_TIMEOUT": timeout,
    }
