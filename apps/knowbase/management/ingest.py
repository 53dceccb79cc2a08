"""Ingesting files from disk, shared by knowbase_ingest and knowbase_evaluate.

A folder is walked recursively, in name order, skipping hidden entries (names starting with a dot: .git, .DS_Store);
each file's source name is its path relative to that folder (POSIX separators), so ingesting the folder again updates
its documents instead of adding duplicates. A file named on its own is known by its file name. Every file goes
through services.document_submit, which decides its kind by content: a file found in a folder that is not a kind the
knowbase reads (an image, an archive) is skipped, with the reason; one named on its own fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from django.conf import settings

from apps.knowbase.exceptions import KnowbaseError, UnsupportedDocument
from apps.knowbase.models import Category, Document, Status, Visibility
from apps.knowbase.services import document_submit

ResultKind = Literal["added", "updated", "unchanged", "failed", "skipped"]
RESULT_KINDS: tuple[ResultKind, ...] = ("added", "updated", "unchanged", "failed", "skipped")


@dataclass(frozen=True)
class SourceFile:
    path: Path
    source_name: str
    named: bool
    """Given on its own (not found in a folder): a file of a kind the knowbase does not read then fails."""


@dataclass(frozen=True)
class FileResult:
    source: SourceFile
    kind: ResultKind
    document_id: int | None = None
    reason: str = ""
    queued: bool = False
    """Submitted, and waiting for the worker (a queue backend): its processing has not happened yet."""


class MissingPath(Exception):
    """A path given to knowbase_ingest is neither a file nor a folder."""


def collect_sources(paths: Iterable[Path]) -> list[SourceFile]:
    """The files to ingest, in order: each file of `paths`, and every file under each folder of `paths`."""
    sources: list[SourceFile] = []
    for path in paths:
        if path.is_file():
            sources.append(SourceFile(path=path, source_name=path.name, named=True))
        elif path.is_dir():
            for found in sorted(path.rglob("*")):
                relative = found.relative_to(path)
                if any(part.startswith(".") for part in relative.parts) or not found.is_file():
                    continue
                sources.append(SourceFile(path=found, source_name=relative.as_posix(), named=False))
        else:
            raise MissingPath(f"{path} is neither a file nor a folder")
    return sources


def duplicate_names(sources: Sequence[SourceFile]) -> dict[Path, SourceFile]:
    """Files whose source name an earlier file of the same run already has (two folders holding the same relative
    path): they would overwrite each other's document. Maps such a file to the first one of its name."""
    first: dict[str, SourceFile] = {}
    duplicates: dict[Path, SourceFile] = {}
    for source in sources:
        if source.source_name in first:
            duplicates[source.path] = first[source.source_name]
        else:
            first[source.source_name] = source
    return duplicates


def ingest_source(
    source: SourceFile,
    *,
    owner: Any,
    visibility: str = Visibility.PRIVATE,
    category: Category | None = None,
    title: str = "",
) -> FileResult:
    """Submit one file and say what came of it. With the immediate task backend the document has been processed by
    the time this returns (ready or failed); with a queue it is `queued` for the worker."""
    limit = settings.KNOWBASE["MAX_UPLOAD_BYTES"]
    try:
        size = source.path.stat().st_size
        if size > limit:
            return FileResult(source, "failed", reason=f"{size:,} bytes, more than the limit of {limit:,}")
        data = source.path.read_bytes()
    except OSError as error:
        return FileResult(source, "failed", reason=f"could not be read ({error.strerror or error})")
    try:
        submission = document_submit(
            owner=owner,
            data=data,
            source_name=source.source_name,
            title=title,
            visibility=visibility,
            category=category,
        )
    except UnsupportedDocument as error:
        return FileResult(source, "failed" if source.named else "skipped", reason=error.message)
    except KnowbaseError as error:
        return FileResult(source, "failed", reason=error.message)
    document = submission.document
    document.refresh_from_db(fields=["status", "error"])
    if submission.outcome == "unchanged":
        return FileResult(source, "unchanged", document_id=document.pk)
    if document.status == Status.FAILED:
        return FileResult(source, "failed", document_id=document.pk, reason=document.error)
    kind: ResultKind = "added" if submission.outcome == "created" else "updated"
    return FileResult(source, kind, document_id=document.pk, queued=document.status != Status.READY)


def pending_documents(results: Iterable[FileResult]) -> list[Document]:
    """The documents of `results` that still wait for processing."""
    ids = [result.document_id for result in results if result.document_id is not None]
    return list(Document.objects.filter(pk__in=ids, status__in=[Status.PENDING, Status.PROCESSING]))
