"""Retrieval quality: recall@k and MRR@10 of chunk_search over a labelled set.

The set: corpus/*.md, documents the project writes about itself, and questions.yaml, questions asked in other words
than the documents use, each labelled with the document that answers it (its path under corpus/) and a passage of
it (verbatim, at least 8 words).

The hit rule. Text is compared after normalisation (whitespace runs become one space, case is folded). A retrieved
chunk is a hit for a question when it belongs to the labelled document and holds the passage; or, since chunk
boundaries can cut a passage in two (the overlap between chunks is only ~15% of a chunk), when it holds at least two
thirds of the passage's words in a row (`HIT_SHARE`): the larger part of a cut passage, which is enough to answer
from. A chunk holding one third of the passage is not a hit; the next chunk, which holds the rest, is.

The metrics, over all questions: recall@k is the share of questions with a hit among the first k results; MRR@10 is
the mean of 1 / the rank of the first hit among the first 10 results (0 when there is none).

The corpus is loaded as the project's own public documents (no owner) in the category "evaluation", through the
code path of knowbase_ingest, with source names under `SOURCE_PREFIX` so that they never collide with documents of
the same file names that staff ingested. Searches are limited to those documents and run with the staff view.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from apps.knowbase.management.common import STAFF_VIEW
from apps.knowbase.management.ingest import FileResult, SourceFile, collect_sources, ingest_source
from apps.knowbase.models import Category, Document, Status, Visibility
from apps.knowbase.processing import document_process
from apps.knowbase.search import Mode, chunk_search
from modules.llm.providers import get_embedder

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / "corpus"
QUESTIONS_FILE = HERE / "questions.yaml"
CATEGORY_SLUG = "evaluation"
CATEGORY_NAME = "Evaluation"
SOURCE_PREFIX = "knowbase-evaluation/"
HIT_SHARE = 2 / 3
MIN_PASSAGE_WORDS = 8
MRR_DEPTH = 10


class EvaluationError(Exception):
    """The labelled corpus could not be ingested or processed: the figures would be meaningless."""


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    document: str
    """The source name of the document that answers it, relative to corpus/"""
    passage: str


@dataclass(frozen=True)
class Retrieved:
    document: str
    text: str


@dataclass(frozen=True)
class ModeResult:
    mode: Mode
    recall: float
    mrr: float
    ranks: tuple[int | None, ...]
    """Per question, in the order of the set: the rank of the first hit within MRR_DEPTH, or None"""


@dataclass(frozen=True)
class Report:
    embedder_name: str
    embedder_label: str
    dimensions: int
    k: int
    questions: tuple[Question, ...]
    results: tuple[ModeResult, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "embedder": {"name": self.embedder_name, "label": self.embedder_label, "dimensions": self.dimensions},
            "k": self.k,
            "questions": len(self.questions),
            "modes": {
                result.mode: {
                    f"recall_at_{self.k}": round(result.recall, 4),
                    f"mrr_at_{MRR_DEPTH}": round(result.mrr, 4),
                    "missed": [
                        question.id
                        for question, rank in zip(self.questions, result.ranks, strict=True)
                        if rank is None or rank > self.k
                    ],
                }
                for result in self.results
            },
        }


# --- the set -------------------------------------------------------------------------------------------------------


def load_questions(path: Path = QUESTIONS_FILE) -> list[Question]:
    """The labelled questions; ValueError naming the entry when one lacks a field."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise ValueError(f"{path} must hold a list of questions")
    questions: list[Question] = []
    for number, entry in enumerate(entries, 1):
        fields = ("id", "question", "document", "passage")
        if not isinstance(entry, dict) or any(not isinstance(entry.get(name), str) for name in fields):
            raise ValueError(f"{path}: entry {number} needs the text fields {', '.join(fields)}")
        questions.append(Question(**{name: entry[name].strip() for name in fields}))
    return questions


def corpus_text(document: str) -> str:
    return (CORPUS_DIR / document).read_text(encoding="utf-8")


def normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def holds_passage(text: str, passage: str) -> bool:
    """Whether `text` holds the passage, or at least HIT_SHARE of its words in a row (see the module docstring)."""
    words = normalise(passage).split(" ")
    haystack = normalise(text)
    run = max(1, math.ceil(len(words) * HIT_SHARE))
    return any(" ".join(words[start : start + run]) in haystack for start in range(len(words) - run + 1))


def first_hit(question: Question, ranking: Sequence[Retrieved]) -> int | None:
    """The rank (1-based) of the first hit of `ranking` for `question`, or None."""
    for rank, retrieved in enumerate(ranking, 1):
        if retrieved.document == question.document and holds_passage(retrieved.text, question.passage):
            return rank
    return None


def recall_at(ranks: Sequence[int | None], k: int) -> float:
    """The share of questions whose first hit is within the first k results."""
    if not ranks:
        return 0.0
    return sum(1 for rank in ranks if rank is not None and rank <= k) / len(ranks)


def mrr_at(ranks: Sequence[int | None], depth: int = MRR_DEPTH) -> float:
    """The mean reciprocal rank of the first hits, counting none past `depth`."""
    if not ranks:
        return 0.0
    return sum(1 / rank for rank in ranks if rank is not None and rank <= depth) / len(ranks)


# --- running it ----------------------------------------------------------------------------------------------------


def corpus_sources() -> list[SourceFile]:
    return [
        SourceFile(path=source.path, source_name=SOURCE_PREFIX + source.source_name, named=source.named)
        for source in collect_sources([CORPUS_DIR])
    ]


def load_corpus() -> dict[str, int]:
    """Ingest the corpus (again: unchanged files cost nothing) and make sure every document is ready and embedded by
    the current embedder: one waiting for a worker (a queue backend), or embedded by another embedder, is processed
    here and now. Returns the document ids by corpus name; EvaluationError when a document fails."""
    category, _ = Category.objects.get_or_create(slug=CATEGORY_SLUG, defaults={"name": CATEGORY_NAME})
    results: list[FileResult] = [
        ingest_source(source, owner=None, visibility=Visibility.PUBLIC, category=category)
        for source in corpus_sources()
    ]
    failed = [
        f"{result.source.path.name}: {result.reason}" for result in results if result.kind in ("failed", "skipped")
    ]
    if failed:
        raise EvaluationError("the corpus could not be ingested: " + "; ".join(failed))
    embedder = get_embedder()
    ids = [result.document_id for result in results if result.document_id is not None]
    for document in Document.objects.filter(pk__in=ids):
        if document.status != Status.READY or document.embedder != embedder.name:
            processed = document_process(document_id=document.pk, revision=document.content_hash)
            if processed is None or processed.status != Status.READY:
                error = processed.error if processed is not None else "changed while it was processed"
                raise EvaluationError(f"{document.source_name} could not be processed: {error}")
    return {
        source_name.removeprefix(SOURCE_PREFIX): pk
        for pk, source_name in Document.objects.filter(pk__in=ids).values_list("pk", "source_name")
    }


def evaluate(
    *,
    modes: Sequence[Mode] = ("hybrid", "vector", "keyword"),
    k: int = 5,
    questions: Sequence[Question] = (),
    on_search: Callable[[int, int], None] | None = None,
) -> Report:
    """Load the corpus, run every question in every mode, and score the rankings. `on_search(done, total)` is
    called after each search (a command's progress bar)."""
    questions = tuple(questions) or tuple(load_questions())
    documents = load_corpus()
    names = {pk: name for name, pk in documents.items()}
    depth = max(k, MRR_DEPTH)
    results: list[ModeResult] = []
    for mode in modes:
        ranks: list[int | None] = []
        for question in questions:
            hits = chunk_search(
                user=STAFF_VIEW, query=question.question, limit=depth, mode=mode, document_ids=list(names)
            )
            ranking = [Retrieved(document=names[hit.document_id], text=hit.text) for hit in hits]
            ranks.append(first_hit(question, ranking))
            if on_search is not None:
                on_search(len(results) * len(questions) + len(ranks), len(modes) * len(questions))
        results.append(ModeResult(mode=mode, recall=recall_at(ranks, k), mrr=mrr_at(ranks), ranks=tuple(ranks)))
    embedder = get_embedder()
    return Report(
        embedder_name=embedder.name,
        embedder_label=embedder.label,
        dimensions=embedder.dimensions,
        k=k,
        questions=questions,
        results=tuple(results),
    )
