from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig
from cfg.models.llm import LlmConfig


def llm_settings(config: CoreConfig) -> dict[str, Any]:
    """LLM for modules/llm: its providers, models, limits and prices."""
    return {"LLM": llm_section(config.llm)}


def llm_section(llm: LlmConfig) -> dict[str, Any]:
    """The LLM setting of one llm config section (tests build one from an LlmConfig of their own)."""
    return {
        "EMBEDDING_PROVIDER": llm.embedding_provider,
        "CHAT_PROVIDER": llm.chat_provider,
        "BASE_URL": llm.base_url,
        "API_KEY": llm.api_key.get_secret_value(),
        "CHAT_MODEL": llm.chat_model,
        # Resolved here: embeddings use the chat API's URL and key unless they have their own.
        "EMBEDDING_BASE_URL": llm.embedding_url,
        "EMBEDDING_API_KEY": llm.embedding_key.get_secret_value(),
        "EMBEDDING_MODEL": llm.embedding_model,
        "EMBEDDING_DIMENSIONS": llm.embedding_dimensions,
        "EMBEDDING_BATCH_SIZE": llm.embedding_batch_size,
        "TIMEOUT": llm.timeout,
        "MAX_RETRIES": llm.max_retries,
        "MAX_RETRY_AFTER": llm.max_retry_after,
        "PRICE_INPUT_PER_MILLION": llm.price_input_per_million,
        "PRICE_OUTPUT_PER_MILLION": llm.price_output_per_million,
    }
