from __future__ import annotations

from collections.abc import Generator
from decimal import Decimal
from typing import cast

import pytest

from modules.llm.exceptions import ChatNotConfigured, LlmError, ProviderUnavailable
from modules.llm.interface import ChatDelta, ChatMessage, ToolCall, ToolSpec
from modules.llm.models import LlmCall
from modules.llm.providers import chat_configured, get_chat_model
from modules.llm.testing import stand_in_settings

pytestmark = pytest.mark.django_db

WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def test_without_a_chat_provider_asking_for_chat_names_the_setting():
    assert not chat_configured()
    with pytest.raises(ChatNotConfigured) as caught:
        get_chat_model()
    assert str(caught.value) == (
        "No chat model is configured: set LLM__CHAT_PROVIDER=openai with LLM__BASE_URL and LLM__API_KEY "
        "(see docs/llm.md)."
    )
    assert (caught.value.status_code, caught.value.code) == (503, "chat_not_configured")


def test_complete_sends_the_conversation_and_returns_text_and_usage(api, llm_settings):
    assert chat_configured()
    api.reply("Paris is the capital of France.", usage=(21, 7))
    model = get_chat_model()
    reply = model.complete(
        [ChatMessage("system", "Answer briefly."), ChatMessage("user", "What is the capital of France?")],
        purpose="geography",
        max_tokens=50,
    )
    assert model.name == "openai:gpt-test"
    assert reply.text == "Paris is the capital of France."
    assert reply.tool_calls == ()
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.cost) == (21, 7, None)
    [request] = api.chat_requests
    assert request.headers["authorization"] == "Bearer sk-test-key-123456"
    assert request.body["model"] == "gpt-test"
    assert request.body["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    # A compatible server (not api.openai.com) gets max_tokens, which they all understand.
    assert request.body["max_tokens"] == 50
    assert "tools" not in request.body


def test_tool_calls_are_offered_parsed_and_answered(api, llm_settings):
    api.reply(tool_calls=[("get_weather", {"city": "Paris"})])
    model = get_chat_model()
    question = ChatMessage("user", "Weather in Paris?")
    reply = model.complete([question], tools=[WEATHER])
    assert reply.text == ""
    assert reply.tool_calls == (ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"}),)
    assert api.chat_requests[0].body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]

    api.reply("Sunny, 21 °C.")
    answer = model.complete(
        [
            question,
            ChatMessage("assistant", "", tool_calls=reply.tool_calls),
            ChatMessage("tool", '{"sky": "sunny", "celsius": 21}', tool_call_id="call_1"),
        ],
        tools=[WEATHER],
    )
    assert answer.text == "Sunny, 21 °C."
    assert api.chat_requests[1].body["messages"][1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": '{"sky": "sunny", "celsius": 21}', "tool_call_id": "call_1"},
    ]


def test_tool_arguments_that_are_not_json_are_an_error_and_recorded(api, llm_settings):
    api.reply(tool_calls=[("get_weather", '{"city": "Par')])
    with pytest.raises(LlmError, match="arguments that are not JSON"):
        get_chat_model().complete([ChatMessage("user", "Weather in Paris?")], tools=[WEATHER])
    call = LlmCall.objects.get()
    assert not call.ok
    assert "not JSON" in call.error


def test_streaming_yields_text_deltas_then_the_usage(api, llm_settings):
    api.reply("Once upon a time there was a test.", usage=(9, 8))
    deltas = list(get_chat_model().stream([ChatMessage("user", "Tell me a story")], purpose="story"))
    *texts, last = deltas
    assert [delta.text for delta in texts] == ["Once", " upon", " a", " time", " there", " was", " a", " test."]
    assert all(delta.usage is None for delta in texts)
    assert last.text == ""
    assert last.usage is not None
    assert (last.usage.input_tokens, last.usage.output_tokens) == (9, 8)
    [request] = api.chat_requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    call = LlmCall.objects.get()
    assert (call.operation, call.purpose, call.input_tokens, call.output_tokens, call.ok) == (
        "stream",
        "story",
        9,
        8,
        True,
    )


def test_a_stream_left_unfinished_is_recorded_as_such(api, llm_settings):
    api.reply("one two three four")
    stream = cast(Generator[ChatDelta], get_chat_model().stream([ChatMessage("user", "count")]))
    assert next(stream).text == "one"
    stream.close()
    call = LlmCall.objects.get()
    assert not call.ok
    assert call.error == "the caller stopped reading before the end of the answer"


@pytest.mark.parametrize(
    ("stream_end", "reason"),
    [("cut", "ended the stream before the answer was finished"), ("malformed", "sent a malformed stream")],
)
def test_a_stream_cut_off_or_garbled_by_the_provider_is_an_error_not_an_answer(api, llm_settings, stream_end, reason):
    api.reply("one two three", stream_end=stream_end)
    stream = get_chat_model().stream([ChatMessage("user", "count")])
    with pytest.raises(ProviderUnavailable, match=reason):
        list(stream)
    call = LlmCall.objects.get()
    assert not call.ok and reason in call.error


def test_every_call_is_recorded_with_its_tokens_and_cost(api, settings):
    settings.LLM = stand_in_settings(api, price_input_per_million="0.15", price_output_per_million="0.60")
    api.reply("fine", usage=(1000, 500))
    reply = get_chat_model().complete([ChatMessage("user", "How are you?")], purpose="small talk")
    assert reply.usage.cost == Decimal("0.00045")
    call = LlmCall.objects.get()
    assert call.provider == f"openai (127.0.0.1:{api.url.rsplit(':', 1)[1]})"
    assert (call.model, call.operation, call.purpose) == ("gpt-test", "chat", "small talk")
    assert (call.input_tokens, call.output_tokens, call.cost) == (1000, 500, Decimal("0.00045000"))
    assert (call.ok, call.error, call.batch_size) == (True, "", 1)
    assert call.duration_ms >= 0


def test_the_cost_reported_by_the_provider_is_kept_when_no_price_is_configured(api, llm_settings):
    api.reply("hi", usage=(10, 2), cost=0.000123)  # OpenRouter adds usage.cost
    assert get_chat_model().complete([ChatMessage("user", "hi")]).usage.cost == Decimal("0.000123")
    assert LlmCall.objects.get().cost == Decimal("0.00012300")


def test_openai_itself_gets_max_completion_tokens(settings):
    from modules.llm.conf import LlmSettings
    from modules.llm.openai_provider import OpenAIChatModel

    settings.LLM = {**settings.LLM, "CHAT_PROVIDER": "openai", "API_KEY": "sk-real"}
    model = OpenAIChatModel(LlmSettings.current())
    assert model._options([ChatMessage("user", "x")], 10)["max_completion_tokens"] == 10
