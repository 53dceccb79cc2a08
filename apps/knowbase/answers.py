"""Answers from the knowledge base, with numbered citations that map to the chunks that were retrieved.

With a chat model (LLM__CHAT_PROVIDER), the model answers from the passages, citing them as [1], [2]…; a marker that
points at no retrieved passage is removed. Without one, the answer is extractive: the passages' best sentences,
labelled as such. With nothing relevant, the answer says so instead of inventing one."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings

from apps.knowbase.search import Hit, chunk_search
from modules.llm.interface import ChatMessage, Usage
from modules.llm.providers import chat_configured, get_chat_model

AnswerMode = Literal["generated", "extractive", "no_answer"]
NO_ANSWER = "The knowledge base holds nothing that answers this question."
CITATION = re.compile(r"\[(\d{1,3})\]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"\w+", re.UNICODE)
EXCERPT_CHARS = 300
MIN_COVERAGE = 0.5
SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages from a knowledge base. Cite every claim with the "
    "number of the passage it comes from, in square brackets, e.g. [1] or [2][3]. If the passages do not answer "
    "the question, say that the knowledge base does not cover it. Do not use outside knowledge."
)


@dataclass(frozen=True)
class Citation:
    number: int
    chunk_id: int
    document_id: int
    document_title: str
    page: int | None
    heading: str
    char_start: int
    char_end: int
    excerpt: str


@dataclass(frozen=True)
class Answer:
    text: str
    mode: AnswerMode
    citations: tuple[Citation, ...]
    passages: tuple[Hit, ...]
    model: str = ""
    usage: Usage | None = None


def relevant_passages(
    *, user: Any, question: str, document_ids: Sequence[int] = (), category_id: int | None = None
) -> list[Hit]:
    """The best chunks that are plausibly about the question: ones that hold at least half of its words (stemmed,
    stop words out), or whose vector is close enough. One shared word ("best" in a question about cake) is not
    enough."""
    config = settings.KNOWBASE
    hits = chunk_search(
        user=user, query=question, limit=config["ASK_CHUNKS"], document_ids=document_ids, category_id=category_id
    )
    floor = config["ASK_MIN_VECTOR_SCORE"]
    return [hit for hit in hits if (hit.coverage or 0) >= MIN_COVERAGE or (hit.vector_score or 0) >= floor]


def answer_question(
    *, user: Any, question: str, document_ids: Sequence[int] = (), category_id: int | None = None
) -> Answer:
    passages = relevant_passages(user=user, question=question, document_ids=document_ids, category_id=category_id)
    if not passages:
        return Answer(text=NO_ANSWER, mode="no_answer", citations=(), passages=())
    if not chat_configured():
        return extractive_answer(question, passages)
    model = get_chat_model()
    reply = model.complete(prompt_messages(question, passages), purpose="knowbase.ask")
    text, citations = cite(reply.text, passages)
    return Answer(
        text=text,
        mode="generated",
        citations=citations,
        passages=tuple(passages),
        model=model.name,
        usage=reply.usage,
    )


def stream_answer(
    *, user: Any, question: str, document_ids: Sequence[int] = (), category_id: int | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs for Server-Sent Events: `passages`, then `delta`s of the answer's text as the model
    writes it, then `answer` (the whole text with invalid citations removed, and the citations), then `done` with
    the usage. Without a chat model the extractive answer comes as one `answer` event."""
    passages = relevant_passages(user=user, question=question, document_ids=document_ids, category_id=category_id)
    yield "passages", {"passages": [passage_data(number, hit) for number, hit in enumerate(passages, 1)]}
    if not passages or not chat_configured():
        answer = (
            extractive_answer(question, passages)
            if passages
            else Answer(text=NO_ANSWER, mode="no_answer", citations=(), passages=())
        )
        yield "answer", answer_data(answer)
        yield "done", {"mode": answer.mode, "usage": None}
        return
    model = get_chat_model()
    parts: list[str] = []
    usage: Usage | None = None
    for delta in model.stream(prompt_messages(question, passages), purpose="knowbase.ask"):
        if delta.text:
            parts.append(delta.text)
            yield "delta", {"text": delta.text}
        if delta.usage is not None:
            usage = delta.usage
    text, citations = cite("".join(parts), passages)
    answer = Answer(
        text=text, mode="generated", citations=citations, passages=tuple(passages), model=model.name, usage=usage
    )
    yield "answer", answer_data(answer)
    yield "done", {"mode": answer.mode, "usage": usage_data(usage)}


def prompt_messages(question: str, passages: Sequence[Hit]) -> list[ChatMessage]:
    numbered = "\n\n".join(
        f"[{number}] {hit.document_title}{' > ' + hit.heading if hit.heading else ''}"
        f"{f' (page {hit.page})' if hit.page else ''}\n{hit.text}"
        for number, hit in enumerate(passages, 1)
    )
    return [
        ChatMessage(role="system", content=SYSTEM_PROMPT),
        ChatMessage(role="user", content=f"Passages:\n\n{numbered}\n\nQuestion: {question}"),
    ]


def cite(text: str, passages: Sequence[Hit]) -> tuple[str, tuple[Citation, ...]]:
    """Keep the markers that name a retrieved passage, drop the others; the citations in order of first use."""
    used: list[int] = []

    def keep(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if not 1 <= number <= len(passages):
            return ""
        if number not in used:
            used.append(number)
        return match.group(0)

    cleaned = CITATION.sub(keep, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return cleaned, tuple(citation(number, passages[number - 1]) for number in used)


def citation(number: int, hit: Hit) -> Citation:
    return Citation(
        number=number,
        chunk_id=hit.chunk_id,
        document_id=hit.document_id,
        document_title=hit.document_title,
        page=hit.page,
        heading=hit.heading,
        char_start=hit.char_start,
        char_end=hit.char_end,
        excerpt=excerpt(hit.text),
    )


def extractive_answer(question: str, passages: Sequence[Hit]) -> Answer:
    """The sentences of the best passages that share the most words with the question, each cited."""
    terms = {word for word in WORD.findall(question.lower()) if len(word) > 2}
    picked: list[str] = []
    for number, hit in enumerate(passages[:3], 1):
        sentences = [sentence.strip() for sentence in SENTENCE_END.split(" ".join(hit.text.split())) if sentence]
        ranked = sorted(
            range(len(sentences)),
            key=lambda index: -len(terms & set(WORD.findall(sentences[index].lower()))),
        )
        best = sorted(ranked[:2])  # the two best sentences, in their own order
        picked.append(" ".join(sentences[index] for index in best) + f" [{number}]")
    text, citations = cite("\n\n".join(picked), passages)
    return Answer(text=text, mode="extractive", citations=citations, passages=tuple(passages))


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1].rsplit(" ", 1)[0] + "…"


def passage_data(number: int, hit: Hit) -> dict[str, Any]:
    return {
        "number": number,
        "chunk_id": hit.chunk_id,
        "document_id": hit.document_id,
        "document_title": hit.document_title,
        "page": hit.page,
        "heading": hit.heading,
        "score": hit.score,
    }


def citation_data(item: Citation) -> dict[str, Any]:
    return {
        "number": item.number,
        "chunk_id": item.chunk_id,
        "document_id": item.document_id,
        "document_title": item.document_title,
        "page": item.page,
        "heading": item.heading,
        "char_start": item.char_start,
        "char_end": item.char_end,
        "excerpt": item.excerpt,
    }


def usage_data(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    cost = usage.cost
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost": None if cost is None else str(Decimal(cost)),
    }


def answer_data(answer: Answer) -> dict[str, Any]:
    return {
        "answer": answer.text,
        "mode": answer.mode,
        "model": answer.model,
        "citations": [citation_data(item) for item in answer.citations],
        "usage": usage_data(answer.usage),
    }
