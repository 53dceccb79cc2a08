from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from cfg.models.base import ConfigModel


class LlmConfig(ConfigModel):
    provider: Literal["builtin", "openai", "sentence_transformers"] = Field(
        default="builtin",
        description="builtin: offline feature hashing (lexical, not semantic); openai: any OpenAI-compatible API"
        " (not built yet)",
    )
    model: str = "gpt-4o-mini"
    """Chat model name (not built yet)"""
    embedding_model: str = "text-embedding-3-small"
    """Embedding model name (not built yet)"""
    base_url: str = "https://api.openai.com/v1"
    """OpenAI-compatible API base URL (OpenAI, OpenRouter, Ollama, vLLM) (not built yet)"""
    api_key: SecretStr = SecretStr("")
    """API key of the provider (not built yet)"""
    embedding_dimensions: int = Field(default=384, ge=8, le=4096)
    """Vector size of stored embeddings (not built yet)"""
    timeout: int = Field(default=60, ge=1)
    """Seconds per provider request (not built yet)"""
