"""Cheap rejection first: bodies bounded before anything reads them, identifiers measured before they are parsed,
and a request refused by one throttle does no further work."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts import identifiers
from apps.accounts.models import ActivityLog, OtpRequest
from apps.accounts.tests.conftest import request_code, url
from cfg import body_limit
from config.asgi import application
from modules.api.testing import http_scope

pytestmark = pytest.mark.django_db

WORST_CASE_IDENTIFIER = "a@" + "ü." * 800_000 + "com"  # 2.4 MB of IDNA work: seconds of CPU if it were parsed


@pytest.fixture
def normalisations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every identifier that reaches canonical_email (the IDNA encoding and validation)."""
    seen: list[str] = []
    real = identifiers.canonical_email

    def counting(text: str) -> str:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(identifiers, "canonical_email", counting)
    return seen


def test_the_worst_case_identifier_is_refused_before_it_is_read(api, normalisations):
    response = api.post(url("otp-request"), {"identifier": WORST_CASE_IDENTIFIER}, format="json")
    assert response.status_code == 413
    assert response.json()["error_code"] == "payload_too_large"
    assert normalisations == []
    assert not OtpRequest.objects.exists()


@pytest.mark.parametrize("name", ["otp-request", "otp-verify"])
def test_a_long_identifier_within_the_body_limit_is_refused_before_any_normalisation(api, normalisations, name):
    long_identifier = "a@" + "ü." * 400 + "com"  # 805 characters, within the 4 KB body limit
    response = api.post(url(name), {"identifier": long_identifier, "code": "123456"}, format="json")
    assert response.status_code == 400
    assert "no more than 254 characters" in response.json()["identifier"][0]
    assert normalisations == []


def test_a_request_refused_for_its_ip_does_not_parse_the_identifier(api, settings, smtp, normalisations):
    settings.ACCOUNTS = {
        **settings.ACCOUNTS,
        "THROTTLE_RATES": {**settings.ACCOUNTS["THROTTLE_RATES"], "otp_ip": "1/hour"},
    }
    assert request_code(api, "ada@example.com").status_code == 200
    normalisations.clear()
    assert request_code(api, "bob@example.com").status_code == 429
    assert normalisations == []


def test_an_upload_to_a_json_endpoint_is_a_415_and_not_parsed(api, normalisations):
    upload = SimpleUploadedFile("big.bin", b"x" * 1000, content_type="application/octet-stream")
    response = api.post(url("otp-request"), {"identifier": "ada@example.com", "file": upload}, format="multipart")
    assert response.status_code == 415
    assert normalisations == []


def test_an_avatar_larger_than_its_limit_is_refused_before_it_is_read(signed_in, settings):
    settings.ACCOUNTS = {**settings.ACCOUNTS, "AVATAR_MAX_BYTES": 2048}
    upload = SimpleUploadedFile("me.png", b"x" * 200_000, content_type="image/png")
    response = signed_in.post(url("me-avatar"), {"avatar": upload}, format="multipart")
    assert response.status_code == 413
    assert response.json()["error_code"] == "payload_too_large"


# Under ASGI, Django's handler copies the body to a temporary file before any middleware runs: the limit must act
# in front of it (cfg.body_limit.BodyLimit, wrapped around config.asgi.application).

HUGE = 300 * 1024 * 1024
CHUNK = 64 * 1024


class Upload:
    """An ASGI client sending a 300 MB body in chunks, counting what the application reads."""

    def __init__(self, *, declare_length: bool) -> None:
        self.read = 0
        self.declare_length = declare_length
        self.sent: list[dict[str, Any]] = []

    def scope(self, path: str) -> dict[str, Any]:
        headers = [(b"content-type", b"application/json"), (b"host", b"localhost")]
        if self.declare_length:
            headers.append((b"content-length", str(HUGE).encode()))
        return http_scope("POST", path, headers)

    async def receive(self) -> dict[str, Any]:
        if self.read >= HUGE:
            await asyncio.sleep(3600)  # the client waits for its answer
        self.read += CHUNK
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": self.read < HUGE}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def status(self) -> int:
        return int(self.sent[0]["status"])

    def body(self) -> Any:
        return json.loads(b"".join(message.get("body", b"") for message in self.sent[1:]))


def run(upload: Upload, path: str) -> None:
    asyncio.run(asyncio.wait_for(application(upload.scope(path), upload.receive, upload.send), timeout=30))


@pytest.fixture
def no_throttle_state() -> Iterator[None]:
    cache.clear()
    yield


@pytest.mark.parametrize("path", ["/api/auth/otp/request/", "/api/accounts/me/"])
def test_a_300_mb_body_with_its_length_declared_is_refused_unread(path, no_throttle_state):
    upload = Upload(declare_length=True)
    run(upload, path)
    assert upload.status() == 413
    assert upload.body()["error_code"] == "payload_too_large"
    assert upload.read == 0


@pytest.mark.parametrize(("path", "limit"), [("/api/auth/otp/request/", 4096), ("/api/accounts/me/", 2_621_440)])
def test_a_300_mb_chunked_body_is_cut_off_at_its_limit(path, limit, no_throttle_state):
    upload = Upload(declare_length=False)
    run(upload, path)
    assert upload.status() == 413
    assert upload.read <= limit + CHUNK  # nothing past the limit was read, so no temporary file grew past it
    assert not ActivityLog.objects.exists()


class Stalling(Upload):
    """Sends one chunk of a body it declares larger, then nothing."""

    async def receive(self) -> dict[str, Any]:
        if self.read:
            await asyncio.sleep(3600)
        self.read += CHUNK
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": True}


def test_a_body_that_stops_arriving_is_dropped_with_a_408(monkeypatch, no_throttle_state):
    monkeypatch.setattr(body_limit, "BODY_IDLE_SECONDS", 0.2)
    upload = Stalling(declare_length=False)
    run(upload, "/api/accounts/me/")
    assert upload.status() == 408
    assert upload.body()["error_code"] == "request_timeout"


def test_a_body_that_trickles_past_the_deadline_is_dropped_with_a_408(monkeypatch, no_throttle_state):
    monkeypatch.setattr(body_limit, "BODY_READ_SECONDS", 0.3)

    class Trickling(Upload):
        async def receive(self) -> dict[str, Any]:
            await asyncio.sleep(0.05)
            self.read += 1
            return {"type": "http.request", "body": b" ", "more_body": True}

    upload = Trickling(declare_length=False)
    run(upload, "/api/accounts/me/")
    assert upload.status() == 408
    assert upload.read < 20


def test_a_path_with_no_view_takes_no_large_body(no_throttle_state):
    upload = Upload(declare_length=True)
    run(upload, "/no/such/page/")
    assert upload.status() == 413
    assert upload.body()["detail"].endswith("at most 4096 bytes.")
    assert upload.read == 0


def test_a_large_multipart_body_to_a_view_that_takes_no_files_is_refused_unread(no_throttle_state):
    upload = Upload(declare_length=True)
    scope_of = upload.scope

    def multipart(path: str) -> dict[str, Any]:
        scope = scope_of(path)
        scope["headers"] = [(b"content-type", b"multipart/form-data; boundary=x"), *scope["headers"][1:]]
        return scope

    upload.scope = multipart  # type: ignore[method-assign]
    run(upload, "/healthz")
    assert upload.status() == 413
    assert upload.body()["detail"].endswith(f"at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    assert upload.read == 0
