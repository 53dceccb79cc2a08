"""What the caller sees when the provider fails: our errors, saying which provider and what happened."""

from __future__ import annotations

import time

import pytest
from django.db import connection, transaction

from modules.llm.exceptions import ProviderRejected, ProviderUnavailable
from modules.llm.interface import ChatMessage
from modules.llm.models import LlmCall
from modules.llm.providers import get_chat_model, get_embedder
from modules.llm.testing import stand_in_settings

pytestmark = pytest.mark.django_db
HELLO = [ChatMessage("user", "hello")]


def test_a_429_is_retried_after_the_wait_the_provider_asks_for(api, llm_settings):
    api.fail(429, "Rate limit reached", retry_after=1)
    reply = get_chat_model().complete(HELLO)
    assert reply.text == "You said: hello"
    first, second = api.chat_requests
    # The SDK's own retry honours Retry-After: the second request waited the second asked for.
    assert second.at - first.at >= 1.0
    assert second.headers["x-stainless-retry-count"] == "1"
    assert LlmCall.objects.get().ok


def test_a_wait_longer_than_max_retry_after_fails_at_once(api, llm_settings):
    api.fail(429, "Rate limit reached", retry_after=30)
    with pytest.raises(ProviderUnavailable) as caught:
        get_chat_model().complete(HELLO)
    assert caught.value.status_code == 503
    assert "is rate limiting gpt-test and asks to wait 30 s, longer than LLM__MAX_RETRY_AFTER (5 s)" in str(
        caught.value
    )
    assert len(api.chat_requests) == 1


def test_server_errors_are_retried_then_reported_as_unavailable(api, llm_settings):
    api.fail(500, "The server had an error", times=3)
    with pytest.raises(ProviderUnavailable) as caught:
        get_chat_model().complete(HELLO, purpose="greeting")
    assert len(api.chat_requests) == 3  # the first try and max_retries=2
    assert caught.value.status_code == 502
    assert str(caught.value) == (
        f"openai (127.0.0.1:{api.url.rsplit(':', 1)[1]}) answered 500 (after 2 retries): The server had an error"
    )
    call = LlmCall.objects.get()
    assert (call.ok, call.purpose, call.error) == (False, "greeting", str(caught.value))


def test_a_server_error_then_an_answer_is_a_success(api, llm_settings):
    api.fail(503, "overloaded")
    assert get_embedder().embed_query("x")
    assert len(api.embedding_requests) == 2


def test_a_slow_answer_times_out_quickly(api, settings):
    settings.LLM = stand_in_settings(api, timeout=1, max_retries=0)
    api.delay(5)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        get_chat_model().complete(HELLO)
    assert time.monotonic() - started < 4
    assert caught.value.status_code == 503
    assert "did not answer within 1 s: set LLM__TIMEOUT higher or try again later" in str(caught.value)
    assert not LlmCall.objects.get().ok


def test_a_slow_stream_times_out_too(api, settings):
    settings.LLM = stand_in_settings(api, timeout=1, max_retries=0)
    api.delay(5)
    with pytest.raises(ProviderUnavailable, match="did not answer within 1 s"):
        list(get_chat_model().stream(HELLO))
    assert LlmCall.objects.get().operation == "stream"


def test_a_refused_key_is_rejected_without_retries_and_never_echoed(api, llm_settings):
    api.fail(401, "Incorrect API key provided: sk-test-key-123456. You can find your API key at example.com.")
    with pytest.raises(ProviderRejected) as caught:
        get_chat_model().complete(HELLO)
    assert len(api.chat_requests) == 1
    assert (caught.value.status_code, caught.value.code) == (502, "llm_rejected")
    message = str(caught.value)
    assert "sk-test-key" not in message
    assert message.endswith(
        "refused the request with 401: Incorrect API key provided: [key]. You can find your "
        "API key at example.com.; check LLM__API_KEY"
    )
    assert "sk-test-key" not in LlmCall.objects.get().error


def test_an_unknown_model_names_the_model(api, llm_settings):
    api.fail(404, "The model `gpt-test` does not exist", path="/v1/chat/completions")
    with pytest.raises(ProviderRejected, match=r"check the model name \(gpt-test\) and LLM__BASE_URL"):
        get_chat_model().complete(HELLO)


def test_a_provider_that_cannot_be_reached_is_unavailable(settings):
    from cfg.models.llm import LlmConfig
    from cfg.settings.llm import llm_section

    settings.LLM = llm_section(
        LlmConfig(chat_provider="openai", base_url="http://127.0.0.1:9/v1", timeout=2, max_retries=1)
    )
    with pytest.raises(ProviderUnavailable) as caught:
        get_chat_model().complete(HELLO)
    assert str(caught.value).startswith("openai (127.0.0.1:9) could not be reached (after 1 retry)")


def test_a_failed_record_never_breaks_the_caller_nor_its_transaction(api, llm_settings, caplog):
    def refuse_the_record(execute, sql, params, many, context):
        if "llm_llmcall" in sql:
            raise RuntimeError("the disk is full")
        return execute(sql, params, many, context)

    with transaction.atomic():
        with connection.execute_wrapper(refuse_the_record):
            reply = get_chat_model().complete(HELLO)
        assert reply.text == "You said: hello"
        # The caller's transaction goes on: the failed write was in a savepoint of its own.
        get_chat_model().complete(HELLO)
        assert LlmCall.objects.count() == 1
    assert "could not record an LLM call" in caplog.text
    assert "the disk is full" in caplog.text


def test_calls_are_recorded_inside_a_transaction(api, llm_settings):
    with transaction.atomic():
        get_embedder().embed_query("x")
        assert LlmCall.objects.count() == 1
    assert LlmCall.objects.count() == 1
