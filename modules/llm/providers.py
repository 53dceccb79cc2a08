"""The public API of modules/llm: the configured embedder and chat model, built once per process from settings.LLM.

    from modules.llm.providers import get_embedder, get_chat_model, chat_configured

The providers that need heavy libraries (openai, sentence-transformers) are imported only when configured.
"""

from __future__ import annotations

import threading
from functools import cache

from modules.llm.conf import LlmSettings
from modules.llm.exceptions import ChatNotConfigured, LlmMisconfigured
from modules.llm.hashing import HashingEmbedder
from modules.llm.interface import ChatModel, Embedder

_embedder_lock = threading.Lock()
_chat_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The embedder of LLM__EMBEDDING_PROVIDER: builtin (the default), openai or local."""
    with _embedder_lock:
        return _embedder()


def get_chat_model() -> ChatModel:
    """The chat model of LLM__CHAT_PROVIDER; ChatNotConfigured when there is none (the builtin provider only
    embeds)."""
    with _chat_lock:
        return _chat_model()


def chat_configured() -> bool:
    return LlmSettings.current().chat_provider != "none"


def forget_providers() -> None:
    """Build the providers again on next use (settings.LLM changed: a test's override)."""
    with _embedder_lock, _chat_lock:
        _embedder.cache_clear()
        _chat_model.cache_clear()


def build_embedder(config: LlmSettings) -> Embedder:
    match config.embedding_provider:
        case "builtin":
            return HashingEmbedder(config.embedding_dimensions)
        case "openai":
            from modules.llm.openai_provider import OpenAIEmbedder

            return OpenAIEmbedder(config)
        case "local":
            from modules.llm.local import DIMENSIONS, LocalEmbedder

            if config.embedding_dimensions != DIMENSIONS:
                raise LlmMisconfigured(
                    f"the local embedder makes {DIMENSIONS}-dimensional vectors but LLM__EMBEDDING_DIMENSIONS is "
                    f"{config.embedding_dimensions}: set it to {DIMENSIONS}"
                )
            return LocalEmbedder(batch_size=config.embedding_batch_size)
    raise LlmMisconfigured(f"unknown LLM__EMBEDDING_PROVIDER {config.embedding_provider!r}")


def build_chat_model(config: LlmSettings) -> ChatModel:
    match config.chat_provider:
        case "none":
            raise ChatNotConfigured()
        case "openai":
            from modules.llm.openai_provider import OpenAIChatModel

            return OpenAIChatModel(config)
    raise LlmMisconfigured(f"unknown LLM__CHAT_PROVIDER {config.chat_provider!r}")


@cache
def _embedder() -> Embedder:
    return build_embedder(LlmSettings.current())


@cache
def _chat_model() -> ChatModel:
    return build_chat_model(LlmSettings.current())
