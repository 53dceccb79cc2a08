"""settings.LLM (made by cfg.settings.llm from the llm config section) as one typed value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class LlmSettings:
    embedding_provider: str = "builtin"
    chat_provider: str = "none"
    base_url: str = "https://api.openai.com/v1"
    api_key: str = ""
    chat_model: str = "gpt-4o-mini"
    embedding_base_url: str = "https://api.openai.com/v1"
    embedding_api_key: str = ""
    embedding_model: str = "text-embedding-3-small"
    embedding_dimensions: int = 384
    embedding_batch_size: int = 64
    timeout: float = 60.0
    max_retries: int = 2
    max_retry_after: float = 60.0
    price_input_per_million: Decimal | None = None
    price_output_per_million: Decimal | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LlmSettings:
        return cls(**{name.lower(): value for name, value in values.items()})

    @classmethod
    def current(cls) -> LlmSettings:
        return cls.from_mapping(getattr(settings, "LLM", {}))
