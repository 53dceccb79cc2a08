"""Any OpenAI-compatible API (OpenAI, OpenRouter, Ollama, vLLM) through the official openai SDK: chat, streamed
chat, tool calls and embeddings. Every request is recorded as an LlmCall with its tokens, cost and duration.

Retries are the SDK's own: timeouts, connection errors, 408, 409, 429 and 5xx answers are retried up to
LLM__MAX_RETRIES times with exponential backoff, or after the wait the provider asks for (Retry-After,
Retry-After-Ms: openai/_base_client.py, _calculate_retry_timeout). The SDK honours waits of up to two minutes; this
client lowers that ceiling to LLM__MAX_RETRY_AFTER: a longer wait fails the call at once instead.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from itertools import batched
from typing import Any, cast
from urllib.parse import urlsplit

import httpx2
import openai
from openai._base_client import BaseClient
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.completion_usage import CompletionUsage

from modules.llm.conf import LlmSettings
from modules.llm.exceptions import LlmError, LlmMisconfigured, ProviderRejected, ProviderUnavailable
from modules.llm.interface import ChatDelta, ChatMessage, ChatReply, ToolCall, ToolSpec, Usage
from modules.llm.models import Operation
from modules.llm.usage import cost_of, record_call

# A keyless server (a local Ollama or vLLM) still gets a key: the SDK refuses to start without one.
NO_KEY = "no-key"
# Models that take the `dimensions` parameter (text-embedding-3-* and later); others always answer in their size.
RESIZABLE_EMBEDDINGS = re.compile(r"text-embedding-3|text-embedding-[4-9]")
# Key-like words in a provider's error message (OpenAI echoes part of a wrong key): never shown.
KEY_LIKE = re.compile(r"\b(?:sk|rk|pk|key)-[A-Za-z0-9_\-*.]{4,}")


class RetryAfterCap(BaseClient[Any, Any]):
    """Put before one of the SDK's clients (openai.OpenAI, openai.AsyncOpenAI) in the bases: LLM__MAX_RETRY_AFTER
    (the keyword max_retry_after) is the longest Retry-After the client waits for."""

    def __init__(self, *, max_retry_after: float, **options: Any) -> None:
        super().__init__(**options)
        self.max_retry_after = max_retry_after

    def _should_retry(self, response: httpx2.Response) -> bool:
        wait = self._parse_retry_after_header(response.headers)
        if wait is not None and wait > self.max_retry_after:
            return False
        return super()._should_retry(response)


class _Client(RetryAfterCap, openai.OpenAI):
    """The SDK's client, with LLM__MAX_RETRY_AFTER as the longest Retry-After it waits for."""


def redact(text: str, key: str) -> str:
    """A provider's message without the key, or the part of a wrong key the provider echoes."""
    if key:
        text = text.replace(key, "[key]")
    return KEY_LIKE.sub("[key]", text)


def provider_label(base_url: str) -> str:
    """The provider as recorded and shown in errors: its host only (a URL may carry credentials)."""
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        host, port = "?", ""
    return f"openai ({host}{port})"


class _OpenAIBase:
    def __init__(self, config: LlmSettings, *, base_url: str, api_key: str) -> None:
        self.config = config
        self.provider = provider_label(base_url)
        self._api_key = api_key
        self.client = _Client(
            api_key=api_key or NO_KEY,
            base_url=base_url,
            timeout=config.timeout,
            max_retries=config.max_retries,
            max_retry_after=config.max_retry_after,
        )

    def _cost(self, input_tokens: int, output_tokens: int, reported: Decimal | None = None) -> Decimal | None:
        return cost_of(
            input_tokens,
            output_tokens,
            price_input=self.config.price_input_per_million,
            price_output=self.config.price_output_per_million,
            reported=reported,
        )

    def _failure(self, error: Exception, model: str) -> LlmError:
        """The SDK's error as ours, saying which provider and what happened, never the key."""
        retries = self.config.max_retries
        after = f" (after {retries} {'retry' if retries == 1 else 'retries'})" if retries else ""
        if isinstance(error, openai.APITimeoutError | httpx2.TimeoutException):
            return ProviderUnavailable(
                f"{self.provider} did not answer within {self.config.timeout:g} s{after}: set LLM__TIMEOUT higher "
                "or try again later"
            )
        if isinstance(error, openai.APIConnectionError | httpx2.TransportError):
            cause = error.__cause__ or error
            return ProviderUnavailable(
                f"{self.provider} could not be reached{after}: {self._redact(f'{type(cause).__name__}: {cause}')}"
            )
        if isinstance(error, openai.RateLimitError):
            wait = self.client._parse_retry_after_header(error.response.headers)
            if wait is not None and wait > self.config.max_retry_after:
                return ProviderUnavailable(
                    f"{self.provider} is rate limiting {model} and asks to wait {wait:g} s, longer than "
                    f"LLM__MAX_RETRY_AFTER ({self.config.max_retry_after:g} s): try again later"
                )
            return ProviderUnavailable(f"{self.provider} is rate limiting {model}{after}: {self._detail(error)}")
        if isinstance(error, openai.APIStatusError):
            status = error.status_code
            if status >= 500 or status in (408, 409):
                return ProviderUnavailable(
                    f"{self.provider} answered {status}{after}: {self._detail(error)}",
                    status_code=502 if status >= 500 else 503,
                )
            hint = {
                401: "; check LLM__API_KEY",
                403: "; check LLM__API_KEY and what it may use",
                404: f"; check the model name ({model}) and LLM__BASE_URL",
            }.get(status, "")
            return ProviderRejected(f"{self.provider} refused the request with {status}: {self._detail(error)}{hint}")
        if isinstance(error, openai.OpenAIError):
            return LlmError(f"{self.provider}: {self._redact(str(error))}")
        raise error

    def _detail(self, error: openai.APIStatusError) -> str:
        body = error.body
        message: Any = None
        if isinstance(body, Mapping):
            inner = body.get("error", body)
            message = inner.get("message") if isinstance(inner, Mapping) else inner
        text = str(message) if message else error.response.reason_phrase or "no message"
        return self._redact(text)[:500]

    def _redact(self, text: str) -> str:
        return redact(text, self._api_key)


class OpenAIChatModel(_OpenAIBase):
    def __init__(self, config: LlmSettings) -> None:
        super().__init__(config, base_url=config.base_url, api_key=config.api_key)
        self.model = config.chat_model
        self.name = f"openai:{config.chat_model}"
        # OpenAI's own API takes max_completion_tokens (its reasoning models refuse max_tokens); the compatible
        # servers (Ollama, vLLM, OpenRouter) all take max_tokens.
        host = urlsplit(config.base_url).hostname or ""
        self._max_tokens_name = "max_completion_tokens" if host == "api.openai.com" else "max_tokens"

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        purpose: str = "",
        max_tokens: int | None = None,
    ) -> ChatReply:
        options = self._options(messages, max_tokens)
        if tools:
            options["tools"] = [_tool_param(tool) for tool in tools]
        started = time.monotonic()
        try:
            response = self.client.chat.completions.create(**options)
        except openai.OpenAIError as error:
            failure = self._failure(error, self.model)
            self._record(Operation.CHAT, purpose, None, started, failure.message)
            raise failure from None
        usage = self._usage(response.usage)
        if not response.choices:
            failure = LlmError(f"{self.provider} answered without a choice")
            self._record(Operation.CHAT, purpose, usage, started, failure.message)
            raise failure
        message = response.choices[0].message
        try:
            calls = tuple(
                ToolCall(id=call.id, name=call.function.name, arguments=_arguments(call.function.arguments))
                for call in message.tool_calls or ()
                if call.type == "function"
            )
        except LlmError as failure:
            self._record(Operation.CHAT, purpose, usage, started, failure.message)
            raise
        self._record(Operation.CHAT, purpose, usage, started)
        return ChatReply(text=message.content or "", tool_calls=calls, usage=usage)

    def stream(
        self, messages: Sequence[ChatMessage], *, purpose: str = "", max_tokens: int | None = None
    ) -> Iterator[ChatDelta]:
        options = self._options(messages, max_tokens)
        started = time.monotonic()
        usage: Usage | None = None
        error = "the caller stopped reading before the end of the answer"
        try:
            try:
                chunks = self.client.chat.completions.create(
                    **options, stream=True, stream_options={"include_usage": True}
                )
            except openai.OpenAIError as failure:
                raise self._failure(failure, self.model) from None
            finished = False
            with chunks:
                try:
                    for chunk in chunks:
                        if chunk.usage is not None:
                            usage = self._usage(chunk.usage)
                        for choice in chunk.choices:
                            if choice.delta.content:
                                yield ChatDelta(text=choice.delta.content)
                            finished = finished or bool(choice.finish_reason)
                except (openai.OpenAIError, httpx2.HTTPError) as failure:
                    raise self._failure(failure, self.model) from None
                except ValueError:  # a chunk that is not JSON
                    raise ProviderUnavailable(f"{self.provider} sent a malformed stream") from None
            if not finished:
                # The connection closed before the model said it had finished: a cut-off answer is not an answer.
                raise ProviderUnavailable(f"{self.provider} ended the stream before the answer was finished")
            # A server that sends no usage chunk (some ignore stream_options) still ends with a usage: zeros.
            usage = usage or Usage(cost=self._cost(0, 0))
            error = ""
            yield ChatDelta(text="", usage=usage)
        except LlmError as failure:
            error = failure.message
            raise
        finally:
            self._record(Operation.STREAM, purpose, usage, started, error)

    def _options(self, messages: Sequence[ChatMessage], max_tokens: int | None) -> dict[str, Any]:
        options: dict[str, Any] = {
            "model": self.model,
            "messages": cast(list[ChatCompletionMessageParam], [_message_param(message) for message in messages]),
        }
        if max_tokens is not None:
            options[self._max_tokens_name] = max_tokens
        return options

    def _usage(self, usage: CompletionUsage | None) -> Usage:
        if usage is None:
            return Usage(cost=self._cost(0, 0))
        return Usage(
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            cost=self._cost(usage.prompt_tokens, usage.completion_tokens, _reported_cost(usage)),
        )

    def _record(self, operation: Operation, purpose: str, usage: Usage | None, started: float, error: str = "") -> None:
        record_call(
            provider=self.provider,
            model=self.model,
            operation=operation,
            purpose=purpose,
            usage=usage,
            duration_ms=round((time.monotonic() - started) * 1000),
            error=error,
        )


class OpenAIEmbedder(_OpenAIBase):
    semantic = True
    # OpenAI's embedding models read 8,191 tokens; chunks of this size embed well and stay precise.
    max_input_words = 1500

    def __init__(self, config: LlmSettings) -> None:
        super().__init__(config, base_url=config.embedding_base_url, api_key=config.embedding_api_key)
        self.model = config.embedding_model
        self.name = f"openai:{config.embedding_model}"
        self.dimensions = config.embedding_dimensions
        self.label = f"{config.embedding_model} through {self.provider} (semantic)"
        self._send_dimensions = bool(RESIZABLE_EMBEDDINGS.search(config.embedding_model))

    def embed_documents(self, texts: Sequence[str], *, purpose: str = "") -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in batched(texts, self.config.embedding_batch_size, strict=False):
            vectors.extend(self._embed_batch(batch, purpose))
        return vectors

    def embed_query(self, text: str, *, purpose: str = "") -> list[float]:
        return self._embed_batch((text,), purpose)[0]

    def _embed_batch(self, batch: Sequence[str], purpose: str) -> list[list[float]]:
        options: dict[str, Any] = {
            "model": self.model,
            # The API refuses an empty string; a space embeds as (almost) nothing.
            "input": [text or " " for text in batch],
            "encoding_format": "float",
        }
        if self._send_dimensions:
            options["dimensions"] = self.dimensions
        started = time.monotonic()
        usage: Usage | None = None
        try:
            try:
                response: CreateEmbeddingResponse = self.client.embeddings.create(**options)
            except openai.OpenAIError as error:
                raise self._failure(error, self.model) from None
            tokens = response.usage.prompt_tokens if response.usage else 0
            usage = Usage(input_tokens=tokens, cost=self._cost(tokens, 0))
            vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
            if len(vectors) != len(batch):
                raise LlmError(f"{self.provider} returned {len(vectors)} embeddings for {len(batch)} texts")
            sizes = {len(vector) for vector in vectors}
            if sizes != {self.dimensions}:
                raise LlmMisconfigured(
                    f"{self.model} returned {'/'.join(map(str, sorted(sizes)))}-dimensional vectors but "
                    f"LLM__EMBEDDING_DIMENSIONS is {self.dimensions}: set it to the model's size"
                )
        except LlmError as failure:
            self._record(purpose, usage, started, len(batch), failure.message)
            raise
        self._record(purpose, usage, started, len(batch))
        return vectors

    def _record(self, purpose: str, usage: Usage | None, started: float, size: int, error: str = "") -> None:
        record_call(
            provider=self.provider,
            model=self.model,
            operation=Operation.EMBED,
            purpose=purpose,
            usage=usage,
            duration_ms=round((time.monotonic() - started) * 1000),
            error=error,
            batch_size=size,
        )


def _message_param(message: ChatMessage) -> dict[str, Any]:
    param: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "tool":
        param["tool_call_id"] = message.tool_call_id or ""
    if message.tool_calls:
        param["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
            }
            for call in message.tool_calls
        ]
    return param


def _tool_param(tool: ToolSpec) -> ChatCompletionToolParam:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": dict(tool.parameters)},
    }


def _arguments(text: str) -> dict[str, Any]:
    try:
        arguments = json.loads(text or "{}")
    except json.JSONDecodeError:
        raise LlmError(f"the model called a tool with arguments that are not JSON: {text[:200]!r}") from None
    if not isinstance(arguments, dict):
        raise LlmError(f"the model called a tool with arguments that are not a JSON object: {text[:200]!r}")
    return arguments


def _reported_cost(usage: CompletionUsage) -> Decimal | None:
    """OpenRouter adds the call's cost (in credits, US dollars) to the usage; OpenAI does not."""
    cost = (usage.model_extra or {}).get("cost")
    if isinstance(cost, int | float | str) and not isinstance(cost, bool):
        try:
            return Decimal(str(cost))
        except InvalidOperation:
            return None
    return None
