from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command

from modules.telegram.client import (
    DjangoTelegram,
    TelegramError,
    TelegramNotConfigured,
    TimeBound,
    send_telegram_message,
    send_telegram_photo,
)
from modules.telegram.testing import FakeTelegram, telegram_server, telegram_settings


@pytest.fixture
def telegram(settings) -> Iterator[FakeTelegram]:
    with telegram_server() as fake:
        settings.TELEGRAM = telegram_settings(fake)
        yield fake


def bot(fake: FakeTelegram, sleeps: list[float], **options) -> DjangoTelegram:
    defaults = {"max_retries": 3, "backoff_seconds": 0.5, "max_retry_after": 30}
    return DjangoTelegram("9:tok", base_url=fake.url, sleep=sleeps.append, **(defaults | options))


def test_send_message_with_parse_mode(telegram):
    result = DjangoTelegram().send_message(42, "<b>hi</b>", parse_mode="HTML", disable_web_page_preview=True)
    assert result["message_id"] == 1
    [call] = telegram.calls
    assert (call.token, call.method) == ("123:test-token", "sendMessage")
    assert call.data == {
        "chat_id": 42,
        "text": "<b>hi</b>",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }


def test_send_photo_and_document_upload_files(telegram):
    client = DjangoTelegram()
    client.send_photo(42, ("cat.png", b"\x89PNG-bytes"), caption="a *cat*", parse_mode="MarkdownV2")
    client.send_document(42, b"report", caption="weekly")
    client.send_photo(42, "https://example.com/cat.png")
    photo, document, by_url = telegram.calls
    assert photo.method == "sendPhoto"
    assert photo.files == {"photo": ("cat.png", b"\x89PNG-bytes")}
    assert photo.data == {"chat_id": "42", "caption": "a *cat*", "parse_mode": "MarkdownV2"}
    assert document.method == "sendDocument"
    assert document.files["document"][1] == b"report"
    assert by_url.data == {"chat_id": 42, "photo": "https://example.com/cat.png"}


def test_429_waits_the_retry_after_telegram_asks_for(telegram):
    telegram.fail_next(429, "Too Many Requests: retry after 7", retry_after=7)
    sleeps: list[float] = []
    bot(telegram, sleeps).send_message(1, "x")
    assert sleeps == [7.0]
    assert len(telegram.calls) == 2


def test_retry_after_is_capped(telegram):
    telegram.fail_next(429, "Too Many Requests", retry_after=3600)
    sleeps: list[float] = []
    bot(telegram, sleeps, max_retry_after=30).send_message(1, "x")
    assert sleeps == [30.0]


def test_5xx_backs_off_exponentially_then_gives_up(telegram):
    for _ in range(4):
        telegram.fail_next(502, "Bad Gateway")
    sleeps: list[float] = []
    with pytest.raises(TelegramError, match="sendMessage: 502 Bad Gateway") as caught:
        bot(telegram, sleeps).send_message(1, "x")
    assert caught.value.retryable
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(telegram.calls) == 4


def test_client_errors_are_not_retried(telegram):
    telegram.fail_next(400, "Bad Request: chat not found")
    sleeps: list[float] = []
    with pytest.raises(TelegramError, match="chat not found") as caught:
        bot(telegram, sleeps).send_message(1, "x")
    assert caught.value.status == 400
    assert sleeps == []


def test_refusals_of_the_chat_are_told_apart_from_the_bots_errors(telegram):
    for status, description, refused in (
        (403, "Forbidden: bot was blocked by the user", True),
        (400, "Bad Request: chat not found", True),
        (401, "Unauthorized", False),
        (404, "Not Found", False),
    ):
        telegram.fail_next(status, description)
        with pytest.raises(TelegramError) as caught:
            bot(telegram, []).send_message(1, "x")
        assert caught.value.recipient_refused is refused, status


class FakeClock:
    """Time that passes only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def bounded(fake: FakeTelegram, clock: FakeClock, bound: TimeBound, **options) -> DjangoTelegram:
    defaults = {"max_retries": 10, "backoff_seconds": 0.5, "max_retry_after": 60}
    return DjangoTelegram(
        "9:tok", base_url=fake.url, bound=bound, sleep=clock.sleep, clock=clock, **(defaults | options)
    )


def test_a_bound_call_does_not_wait_on_a_long_retry_after(telegram):
    telegram.fail_next(429, "Too Many Requests: retry after 3600", retry_after=3600)
    clock = FakeClock()
    with pytest.raises(TelegramError, match="429") as caught:
        bounded(telegram, clock, TimeBound(total_seconds=10, max_wait_seconds=3)).send_message(1, "x")
    assert caught.value.retryable and not caught.value.recipient_refused  # an outage
    assert clock.sleeps == []
    assert len(telegram.calls) == 1


def test_a_bound_call_waits_a_short_retry_after_in_full(telegram):
    telegram.fail_next(429, "Too Many Requests: retry after 2", retry_after=2)
    clock = FakeClock()
    bounded(telegram, clock, TimeBound(total_seconds=10, max_wait_seconds=3), max_retry_after=0).send_message(1, "x")
    assert clock.sleeps == [2.0]  # not shortened to max_retry_after: that would only earn another 429


def test_a_bound_call_stops_retrying_when_its_total_runs_out(telegram):
    for _ in range(10):
        telegram.fail_next(502, "Bad Gateway")
    clock = FakeClock()
    with pytest.raises(TelegramError, match="502"):
        bounded(telegram, clock, TimeBound(total_seconds=3, max_wait_seconds=5)).send_message(1, "x")
    assert clock.sleeps == [0.5, 1.0]  # the next wait (2.0) would end past 3 seconds
    assert len(telegram.calls) == 3


def test_unreachable_api_is_retried_and_never_shows_the_token():
    from modules.email.testing import free_port

    sleeps: list[float] = []
    client = DjangoTelegram(
        "9:secret-token",
        base_url=f"http://127.0.0.1:{free_port()}",
        sleep=sleeps.append,
        max_retries=1,
        backoff_seconds=0.1,
    )
    with pytest.raises(TelegramError) as caught:
        client.send_message(1, "x")
    assert "unreachable" in str(caught.value)
    assert "secret-token" not in str(caught.value)
    assert sleeps == [0.1]


def test_helpers_default_to_the_admin_chat(telegram):
    send_telegram_message("deployed")
    send_telegram_photo(b"img", caption="graph")
    assert telegram.messages_to("-1001") == ["deployed", "graph"]


def test_not_configured(settings):
    settings.TELEGRAM = {**settings.TELEGRAM, "BOT_TOKEN": "", "CHAT_ID": ""}
    with pytest.raises(TelegramNotConfigured, match="TELEGRAM__BOT_TOKEN"):
        send_telegram_message("x", 1)


def test_test_telegram_command(telegram, capsys):
    call_command("test_telegram", "--chat-id", "77", "--text", "ping")
    out = capsys.readouterr().out
    assert "@test_bot" in out
    assert "to chat 77" in out
    assert telegram.messages_to("77") == ["ping"]


def test_test_telegram_command_fails_clearly(telegram, settings):
    telegram.fail_next(401, "Unauthorized")
    with pytest.raises(CommandError, match="getMe: 401 Unauthorized"):
        call_command("test_telegram")
    settings.TELEGRAM = {**settings.TELEGRAM, "CHAT_ID": ""}
    with pytest.raises(CommandError, match="no chat to message"):
        call_command("test_telegram")


def test_get_me_checks_the_bot_and_sends_nothing(telegram):
    assert DjangoTelegram().get_me()["is_bot"] is True
    [call] = telegram.calls
    assert (call.token, call.method) == ("123:test-token", "getMe")
    telegram.fail_next(401, "Unauthorized")
    with pytest.raises(TelegramError) as caught:
        DjangoTelegram().get_me()
    assert caught.value.status == 401
