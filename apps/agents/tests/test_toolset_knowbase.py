"""The knowbase toolset through a real pydantic-ai agent: a scripted model calls a tool and answers with what the tool
gave it. Documents are made the way the application makes them (submitted, then processed by the task's body); the
package's conftest keeps their originals in tmp_path and the word statistics fresh."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from pydantic_ai.toolsets import FunctionToolset

from apps.agents.tests.scripted import ScriptedToolset, answered, approval_requested, deps, model_usage, resume
from apps.agents.toolsets import available_toolsets
from apps.agents.toolsets.knowbase import SPEC
from apps.knowbase.models import Status, Visibility
from apps.knowbase.tests.factories import GARDEN, KETTLE, document_create, staff_create, user_create
from apps.tasks.models import TaskRun
from modules.llm.testing import OpenAIStandIn

pytestmark = pytest.mark.django_db

LIGHTHOUSE = """# Lighthouse keeping

## Lamps

The lighthouse lamp is lit at dusk and put out at dawn. Trim the wick and polish the lens every morning.
"""

_toolset = ScriptedToolset(SPEC)
agent_for, ask = _toolset.agent_for, _toolset.ask


@pytest.fixture
def ada() -> Any:
    return user_create("ada@example.com")


@pytest.fixture
def eve() -> Any:
    return user_create("eve@example.com")


def test_the_toolset_is_registered_under_its_name():
    assert available_toolsets()["knowbase"] is SPEC
    toolset = SPEC.build()
    assert isinstance(toolset, FunctionToolset)
    tools = toolset.tools
    assert set(tools) == {"search_documents", "ask_knowbase", "reprocess_document"}
    assert [name for name, tool in tools.items() if tool.requires_approval] == ["reprocess_document"]


def test_search_finds_the_users_own_documents_with_excerpts_and_scores(ada):
    garden = document_create(owner=ada, text=GARDEN, title="Garden notes")

    hits = ask(ada, "search_documents", query="watering tomato plants", limit=3)["hits"]

    assert hits and {hit["document_id"] for hit in hits} == {garden.pk}
    assert hits[0]["document_title"] == "Garden notes"
    assert "Tomatoes need full sun" in hits[0]["excerpt"]
    assert hits[0]["score"] > 0
    assert len(hits) <= 3


def test_search_never_returns_another_users_private_document(ada, eve):
    document_create(owner=ada, text=GARDEN, title="Garden notes")
    kettle = document_create(owner=eve, text=KETTLE, title="Kettle manual")

    hits = ask(ada, "search_documents", query="descale the kettle with vinegar", limit=10)["hits"]
    owners_hits = ask(eve, "search_documents", query="descale the kettle with vinegar", limit=10)["hits"]

    assert kettle.pk not in {hit["document_id"] for hit in hits}
    assert kettle.pk in {hit["document_id"] for hit in owners_hits}


def test_search_returns_another_users_public_document(ada, eve):
    lighthouse = document_create(owner=eve, text=LIGHTHOUSE, title="Lighthouse", visibility=Visibility.PUBLIC)
    document_create(owner=eve, text=KETTLE, title="Kettle manual")

    hits = ask(ada, "search_documents", query="lighthouse lamp wick", limit=10)["hits"]

    assert {hit["document_id"] for hit in hits} == {lighthouse.pk}


def test_ask_cites_only_documents_the_user_may_see(ada, eve):
    document_create(owner=eve, text=KETTLE, title="Kettle manual")
    document_create(owner=ada, text=GARDEN, title="Garden notes")

    answer = ask(ada, "ask_knowbase", question="How do I descale the kettle?")
    owners_answer = ask(eve, "ask_knowbase", question="How do I descale the kettle?")

    assert answer["mode"] == "no_answer"
    assert answer["citations"] == []
    assert owners_answer["citations"]


def test_ask_answers_with_citations_of_visible_documents(ada, eve):
    kettle = document_create(owner=eve, text=KETTLE, title="Kettle manual", visibility=Visibility.PUBLIC)
    document_create(owner=eve, text=LIGHTHOUSE, title="Lighthouse")

    answer = ask(ada, "ask_knowbase", question="How do I descale the kettle?")

    assert answer["mode"] == "extractive"
    assert "vinegar" in answer["answer"]
    assert answer["citations"]
    assert {citation["document_id"] for citation in answer["citations"]} == {kettle.pk}
    assert answer["citations"][0]["document_title"] == "Kettle manual"
    assert answer["citations"][0]["excerpt"]


def test_ask_counts_its_answers_model_request_tokens_and_cost_in_the_run(ada, chat: OpenAIStandIn):
    """ask_knowbase calls the chat model itself: that request and its tokens are the run's (its request and token
    limits see them), and its cost goes to the run's tool spend (the engine adds it to the run's cost)."""
    document_create(owner=ada, text=KETTLE, title="Kettle manual")
    chat.reply("Descale the kettle with vinegar [1].", usage=(40, 8), cost=0.002)
    run_deps = deps(ada)

    result = async_to_sync(agent_for("ask_knowbase", question="How do I descale the kettle?").run)("go", deps=run_deps)

    assert answered(result)["mode"] == "generated" and len(chat.chat_requests) == 1
    own = model_usage(result)  # the scripted model's own two requests
    assert own.requests == 2
    assert (result.usage.requests, result.usage.input_tokens, result.usage.output_tokens) == (
        own.requests + 1,
        own.input_tokens + 40,
        own.output_tokens + 8,
    )
    assert run_deps.spend.cost == Decimal("0.002")


def test_an_extractive_answer_adds_nothing_to_the_runs_usage(ada):
    document_create(owner=ada, text=KETTLE, title="Kettle manual")  # no chat model: the passages' own sentences
    run_deps = deps(ada)

    result = async_to_sync(agent_for("ask_knowbase", question="How do I descale the kettle?").run)("go", deps=run_deps)

    assert answered(result)["mode"] == "extractive"
    assert result.usage.requests == model_usage(result).requests == 2
    assert result.usage.input_tokens == model_usage(result).input_tokens
    assert run_deps.spend.cost is None


def test_a_blank_query_is_sent_back_to_the_model(ada):
    assert ask(ada, "search_documents", query="   ") == {"error": "Give a query: the words to search for."}


def test_a_knowbase_error_reaches_the_model_as_a_failed_call(ada, settings):
    document_create(owner=ada, text=GARDEN, title="Garden notes")
    # The embedder now makes vectors of another size than the stored column holds (knowbase_reembed not run).
    settings.LLM = {**settings.LLM, "EMBEDDING_DIMENSIONS": 256}
    settings.KNOWBASE = {**settings.KNOWBASE, "EMBEDDING_DIMENSIONS": 256}

    answer = ask(ada, "search_documents", query="tomatoes")

    assert "knowbase_reembed" in answer["error"]


def test_reprocessing_pauses_for_approval_and_requeues_the_document_once_approved(
    ada, django_capture_on_commit_callbacks
):
    garden = document_create(owner=ada, text=GARDEN, title="Garden notes")
    agent = agent_for("reprocess_document", document_id=garden.pk)

    paused = async_to_sync(agent.run)("go", deps=deps(ada))

    call = approval_requested(paused)
    assert (call.tool_name, call.args_as_dict()) == ("reprocess_document", {"document_id": garden.pk})
    garden.refresh_from_db()
    assert garden.status == Status.READY

    with django_capture_on_commit_callbacks(execute=True) as queued:
        resumed = resume(agent, ada, paused, approved=True)

    assert answered(resumed) == {"document_id": garden.pk, "title": "Garden notes", "status": "pending"}
    assert len(queued) == 1
    run = TaskRun.objects.get(task_path="apps.knowbase.tasks.process_document")
    assert run.args[0] == garden.pk


def test_a_denied_reprocessing_changes_nothing(ada, django_capture_on_commit_callbacks):
    garden = document_create(owner=ada, text=GARDEN, title="Garden notes")
    agent = agent_for("reprocess_document", document_id=garden.pk)
    paused = async_to_sync(agent.run)("go", deps=deps(ada))

    with django_capture_on_commit_callbacks(execute=True) as queued:
        resume(agent, ada, paused, approved=False)

    garden.refresh_from_db()
    assert garden.status == Status.READY
    assert queued == []


def test_staff_may_reprocess_any_document(ada):
    garden = document_create(owner=ada, text=GARDEN, title="Garden notes")

    paused = async_to_sync(agent_for("reprocess_document", document_id=garden.pk).run)("go", deps=deps(staff_create()))

    assert approval_requested(paused).args_as_dict() == {"document_id": garden.pk}


@pytest.mark.parametrize("visibility", [Visibility.PRIVATE, Visibility.PUBLIC])
def test_another_users_document_is_reported_as_not_found_without_asking_for_approval(ada, eve, visibility):
    kettle = document_create(owner=eve, text=KETTLE, title="Kettle manual", visibility=visibility)
    missing = kettle.pk + 100

    refused = ask(ada, "reprocess_document", document_id=kettle.pk)
    not_there = ask(ada, "reprocess_document", document_id=missing)

    assert refused["error"] == not_there["error"].replace(str(missing), str(kettle.pk))
    assert refused["error"].startswith(f"No document {kettle.pk} that you may change.")
    assert "Kettle" not in refused["error"]
    kettle.refresh_from_db()
    assert kettle.status == Status.READY


def test_a_search_that_finds_nothing_says_so(ada):
    assert ask(ada, "search_documents", query="lighthouse lamp wick") == {"hits": []}
