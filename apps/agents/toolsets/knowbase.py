"""The knowbase toolset: search the documents the user may see, answer from them with citations, and (after
approval) process one of the user's own documents again.

Every call is scoped to the run's user (AgentDeps.user) by the knowbase's own selectors: a private document of
another user is never found, and never said to exist. ask_knowbase's own chat request counts in the run: its tokens,
its request and its cost, against the run's limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ModelRetry, ToolFailed
from pydantic_ai.toolsets import FunctionToolset
from pydantic_ai.usage import RunUsage

from apps.agents.deps import AgentDeps
from apps.agents.toolsets import ToolsetSpec
from apps.knowbase.answers import answer_data, answer_question, excerpt
from apps.knowbase.models import Document
from apps.knowbase.search import Hit, chunk_search
from apps.knowbase.selectors import document_get, document_may_change
from apps.knowbase.services import document_reprocess
from modules.api.exceptions import ServiceError
from modules.llm.interface import Usage

MAX_HITS = 20


async def _knowbase[T](function: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a sync knowbase function from the async tool, on the thread that holds the request's connection.

    A knowbase or LLM error (ServiceError: the embedder's dimension mismatch, a document being processed, the chat
    provider down) becomes ToolFailed rather than ModelRetry or a crash: the model is told what went wrong in the
    error's own words and can say so to the user, but calling again with other arguments would not help, so no
    retry budget is spent on it and the run goes on. Other exceptions are bugs and propagate."""
    try:
        return await sync_to_async(function, thread_sensitive=True)(**kwargs)
    except ServiceError as error:
        raise ToolFailed(error.message) from error


def _hit_data(hit: Hit) -> dict[str, Any]:
    return {
        "document_id": hit.document_id,
        "document_title": hit.document_title,
        "chunk_id": hit.chunk_id,
        "heading": hit.heading,
        "page": hit.page,
        "excerpt": excerpt(hit.text),
        "score": hit.score,
        "vector_score": hit.vector_score,
        "keyword_score": hit.keyword_score,
    }


async def search_documents(ctx: RunContext[AgentDeps], query: str, limit: int = 5) -> dict[str, Any]:
    """Search the knowledge base for passages about a topic, among the documents the user may read.

    Returns `hits`, the best passages first, each with its document's id and title, the heading and page it sits
    under, an excerpt of its text and its relevance scores. No hits means nothing matched.

    Args:
        query: What to look for, in words (a question or keywords).
        limit: How many passages to return (1 to 20).
    """
    if not query.strip():
        raise ModelRetry("Give a query: the words to search for.")
    hits = await _knowbase(chunk_search, user=ctx.deps.user, query=query, limit=min(max(limit, 1), MAX_HITS))
    # An object, not a bare list: pydantic-ai sends a list as content parts, so an empty one would reach the model
    # as an empty text rather than as "no hits".
    return {"hits": [_hit_data(hit) for hit in hits]}


async def ask_knowbase(ctx: RunContext[AgentDeps], question: str) -> dict[str, Any]:
    """Answer a question from the knowledge base, citing the documents the answer comes from.

    Returns the answer's text with numbered markers ([1], [2]) and the citations they point to (document id and
    title, heading, page, excerpt). Mode "no_answer" means the knowledge base holds nothing that answers it;
    "extractive" means the answer is the passages' own best sentences.

    Args:
        question: The question, in plain words.
    """
    if not question.strip():
        raise ModelRetry("Give a question to answer.")
    answer = await _knowbase(answer_question, user=ctx.deps.user, question=question)
    _count_in_run(ctx, answer.usage)
    return answer_data(answer)


def _count_in_run(ctx: RunContext[AgentDeps], usage: Usage | None) -> None:
    """The chat model's answer (a request of its own, beside the run's) counted in the run: its request and tokens
    in the run's live usage (ctx.usage), so that the run's request and token limits see them, and its cost in the
    run's tool spend, which the engine adds to the run's cost and checks against its cost limit. An extractive or
    empty answer used no model (usage None)."""
    if usage is None:
        return
    ctx.usage.incr(RunUsage(requests=1, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens))
    ctx.deps.spend.add(usage.cost)


def _changeable_document(user: Any, document_id: int) -> Document:
    """The document if the user may change it. Another user's document, public or not, is reported exactly as a
    missing one, so that the model (and whoever reads the run) learns nothing about it."""
    document = document_get(user=user, document_id=document_id)
    if document is None or not document_may_change(user=user, document=document):
        raise ModelRetry(
            f"No document {document_id} that you may change. Use search_documents to find the ids of documents."
        )
    return document


def _reprocess(user: Any, document_id: int) -> dict[str, Any]:
    document = document_reprocess(document=_changeable_document(user, document_id))
    return {"document_id": document.pk, "title": document.title, "status": document.status}


async def _may_reprocess(ctx: RunContext[AgentDeps], document_id: int) -> None:
    # Runs before the call is put to the approver: nobody is asked to approve a call that would only fail.
    await _knowbase(_changeable_document, user=ctx.deps.user, document_id=document_id)


async def reprocess_document(ctx: RunContext[AgentDeps], document_id: int) -> dict[str, Any]:
    """Read, chunk and embed one of the user's documents again (after a failed processing, say). Needs approval.

    Returns the document's id, title and new status ("pending": it is queued for processing).

    Args:
        document_id: The id of the document, as search_documents or ask_knowbase give it.
    """
    # Checked again: the document may have changed hands between the request and its approval.
    return await _knowbase(_reprocess, user=ctx.deps.user, document_id=document_id)


def build() -> FunctionToolset[AgentDeps]:
    toolset = FunctionToolset[AgentDeps](id="knowbase", docstring_format="google", require_parameter_descriptions=True)
    toolset.add_function(search_documents)
    toolset.add_function(ask_knowbase)
    toolset.add_function(reprocess_document, requires_approval=True, args_validator=_may_reprocess)
    return toolset


SPEC = ToolsetSpec(
    name="knowbase",
    label="Knowledge base",
    description="Search the documents the user may read, answer questions from them with citations, and (with "
    "approval) reprocess the user's own documents.",
    build=build,
    requires_app="knowbase",
)
