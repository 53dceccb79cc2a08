"""The configured chat model as a pydantic-ai model, for agents (apps/agents): the same provider, key, timeout,
retries and prices as get_chat_model(), through the SDK's asynchronous client.

A model is built per run: its HTTP client belongs to the event loop of that run. The TLS context the client
verifies servers with is built once per process: loading the system's certificates takes tens of milliseconds, most
of what building a model would otherwise cost."""

from __future__ import annotations

import ssl
from decimal import Decimal
from functools import cache

import httpx2
import openai
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from modules.llm.conf import LlmSettings
from modules.llm.exceptions import ChatNotConfigured, LlmMisconfigured
from modules.llm.openai_provider import NO_KEY, RetryAfterCap, provider_label
from modules.llm.usage import cost_of


class _AsyncClient(RetryAfterCap, openai.AsyncOpenAI):
    """The SDK's asynchronous client, with LLM__MAX_RETRY_AFTER as the longest Retry-After it waits for."""


def agent_model(model_name: str = "", config: LlmSettings | None = None) -> OpenAIChatModel:
    """A pydantic-ai model of LLM__CHAT_PROVIDER: `model_name`, or LLM__CHAT_MODEL when empty. ChatNotConfigured
    when there is no chat provider."""
    config = config or LlmSettings.current()
    match config.chat_provider:
        case "none":
            raise ChatNotConfigured()
        case "openai":
            client = _AsyncClient(
                api_key=config.api_key or NO_KEY,
                base_url=config.base_url,
                timeout=config.timeout,
                max_retries=config.max_retries,
                max_retry_after=config.max_retry_after,
                http_client=openai.DefaultAsyncHttpxClient(verify=_tls_context()),
            )
            return OpenAIChatModel(model_name or config.chat_model, provider=OpenAIProvider(openai_client=client))
    raise LlmMisconfigured(f"unknown LLM__CHAT_PROVIDER {config.chat_provider!r}")


@cache
def _tls_context() -> ssl.SSLContext:
    """The context httpx would build for each client (the system's certificates, SSL_CERT_FILE/DIR honoured)."""
    return httpx2.create_ssl_context()


def agent_provider_label(config: LlmSettings | None = None) -> str:
    """The provider as LlmCall records it: its host only."""
    return provider_label((config or LlmSettings.current()).base_url)


def request_cost(
    input_tokens: int, output_tokens: int, reported: Decimal | None, config: LlmSettings | None = None
) -> Decimal | None:
    """One model request's cost: the configured prices, else what the provider (or genai-prices) reported."""
    config = config or LlmSettings.current()
    return cost_of(
        input_tokens,
        output_tokens,
        price_input=config.price_input_per_million,
        price_output=config.price_output_per_million,
        reported=reported,
    )
