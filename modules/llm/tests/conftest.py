from __future__ import annotations

from collections.abc import Iterator

import pytest

from modules.llm.conf import LlmSettings
from modules.llm.testing import OpenAIStandIn, openai_stand_in, stand_in_settings


@pytest.fixture
def api() -> Iterator[OpenAIStandIn]:
    with openai_stand_in() as stand_in:
        yield stand_in


@pytest.fixture
def llm_settings(api: OpenAIStandIn, settings) -> LlmSettings:
    """settings.LLM pointed at the stand-in for chat and embeddings; returns it as the providers read it."""
    settings.LLM = stand_in_settings(api)
    return LlmSettings.current()
