from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from cfg.models.base import ConfigModel


class LlmConfig(ConfigModel):
    provider: Literal["builtin", "openai", "sentence_transformers"] = Field(
        default="builtin",
        description="builtin: offline feature hashing (lexical, not semantic); openai: any OpenAI-compatible API",
    )
    model: str = "gpt-4o-mini"
    """Chat model name"""
    embedding_model: str = "text-embedding-3-small"
    """Embedding model name"""
    base_url: str = "https://api.openai.com/v1"
    """OpenAI-compatible API base URL (OpenAI, OpenRouter, Ollama, vLLM)"""
    api_key: SecretStr = SecretStr("")
    """API key of the provider"""
    embedding_dimensions: int = Field(default=384, ge=8, le=4096)
    """Vector size of stored embeddings"""
    timeout: int = Field(default=60, ge=1)
    """Seconds per provider request"""
