"""Fixtures of the agents tests: the knowbase's (originals in tmp_path, fresh word statistics), a chat model served
by the local OpenAI stand-in, and runs that execute when their transaction would commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.agents import services
from apps.agents.models import AgentRun, Conversation
from apps.knowbase.tests.conftest import (  # noqa: F401  (fixtures: the knowbase's autouse ones, and users)
    _fresh_word_statistics,
    _knowbase_originals_in_tmp_path,
    ada,
    ada_api,
    eve,
    eve_api,
    staff,
    staff_api,
)
from apps.tasks.tests.conftest import (  # noqa: F401  (fixtures: the ReArq backend and a worker subprocess)
    queue_name,
    rearq,
    redis_client,
    start_worker,
)
from modules.llm.providers import forget_providers
from modules.llm.testing import OpenAIStandIn, openai_stand_in, stand_in_settings


@pytest.fixture
def chat(settings: Any) -> Iterator[OpenAIStandIn]:
    """Chat from the local OpenAI stand-in (no retries unless a test asks); embeddings stay builtin."""
    with openai_stand_in() as stand_in:
        settings.LLM = stand_in_settings(stand_in, embedding_provider="builtin", max_retries=0)
        forget_providers()
        yield stand_in
    forget_providers()


@pytest.fixture
def send(django_capture_on_commit_callbacks: Any) -> Callable[..., AgentRun]:
    """Post a message as the service does and run the queued run (the immediate backend, on commit)."""

    def send(conversation: Conversation, text: str) -> AgentRun:
        with django_capture_on_commit_callbacks(execute=True):
            run = services.message_post(conversation=conversation, text=text)
        return AgentRun.objects.get(pk=run.pk)

    return send
