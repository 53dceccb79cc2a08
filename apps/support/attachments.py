"""Attachments: what an upload is, recognised by its content (never by its name or declared type), and storing it in
the private storage so that no file outlives a transaction that failed.

    checked = check_uploads(uploads)                          # before anything is written
    with files_removed_on_failure() as stored:
        with transaction.atomic():
            message = Message.objects.create(ticket=ticket, ...)   # the message the files belong to
            store_attachments(ticket=ticket, message=message, files=checked, stored=stored)
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import os
import re
import secrets
import struct
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import filetype
from django.conf import settings
from django.core.files.base import File
from PIL import Image, UnidentifiedImageError

from apps.support.exceptions import AttachmentRefused
from apps.support.models import ATTACHMENT_NAME_MAX, Attachment, Message, Ticket

logger = logging.getLogger(__name__)

IMAGE_KINDS = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
CONTENT_TYPES = {**IMAGE_KINDS, "pdf": "application/pdf", "txt": "text/plain; charset=utf-8"}
# What Pillow calls each image kind: the library's guess and Pillow's reading must agree.
PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}
UNNAMED = "attachment"
# Text that a browser (or a mail client, a preview) would take for markup is refused, served as text or not: HTML or
# SVG at its start, or a script or SVG element near it.
MARKUP_START = re.compile(
    r"^\s*<(?:!--|(?:!doctype|\?xml|html|head|body|script|style|svg|iframe|object|embed|img|a|div|meta|title|table)\b)",
    re.IGNORECASE,
)
MARKUP_ANYWHERE = re.compile(r"<(?:script|svg|html|iframe)\b", re.IGNORECASE)
MARKUP_SCAN_CHARS = 4096
# Text named as one of these is refused: a file that claims to be an image, a PDF, a page or a program but is text
# is a fake (a script, a polyglot) or a mistake, and opening it as what its name says would go wrong either way. A real
# image named .txt is different: it is stored as what it is.
NOT_TEXT_EXTENSIONS = frozenset(
    (
        *("png", "jpg", "jpeg", "jpe", "jfif", "gif", "webp", "bmp", "tif", "tiff", "ico", "heic", "avif", "pdf"),
        *("svg", "svgz", "htm", "html", "xhtml", "shtml", "xht", "xml", "xsl", "js", "mjs", "hta"),
        *("exe", "dll", "com", "bat", "cmd", "ps1", "vbs", "msi", "scr", "jar", "apk", "sh", "app", "dmg"),
    )
)
# The extensions a file of each kind keeps; under any other name the kind's own (the first) is added: a PNG sent as
# "run.bat" is offered as "run.bat.png". The download's name is the attacker's choice otherwise, and the system opens
# a file by its name: a polyglot image named .js, .bat or .hta would be run, a text named .reg or .url acted on.
KIND_EXTENSIONS = {
    "png": ("png",),
    "jpeg": ("jpg", "jpeg", "jpe", "jfif"),
    "gif": ("gif",),
    "webp": ("webp",),
    "pdf": ("pdf",),
    "txt": (
        *("txt", "text", "log", "csv", "tsv", "md", "markdown", "rst"),
        *("json", "yaml", "yml", "ini", "cfg", "conf", "diff", "patch"),
    ),
}


# An image's pixels, whatever its bytes: a small file can decode to gigabytes in the viewer of whoever opens it.
MAX_PIXELS = 40_000_000
# The leading bytes that the kind and the markup checks read; the rest of a file is only hashed and checked as UTF-8.
HEAD_BYTES = 16 * 1024


@dataclass(frozen=True)
class CheckedFile:
    """An upload that passed: what it is, and the upload itself to store from (read in chunks, never held whole in
    memory: a few concurrent replies with the most and largest files would otherwise cost hundreds of MB)."""

    kind: str
    content_type: str
    source: Any
    size: int
    sha256: str
    name: str


@dataclass
class _Scan:
    """What one pass over an upload's chunks tells: its size (counted to the limit + 1), hash, head, and whether it
    is UTF-8 text without NUL bytes throughout."""

    size: int
    sha256: str
    head: bytes
    utf8: bool


def sanitise_name(name: str) -> str:
    """The name shown and offered on download: its last path part, without control characters, at most
    ATTACHMENT_NAME_MAX characters (the extension kept when it is cut)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(char for char in base if unicodedata.category(char)[0] != "C").strip().strip(".").strip()
    if not base:
        return UNNAMED
    if len(base) > ATTACHMENT_NAME_MAX:
        stem, extension = os.path.splitext(base)
        extension = extension[:20]
        base = stem[: ATTACHMENT_NAME_MAX - len(extension)] + extension
    return base


def _chunks(upload: Any) -> Iterator[bytes]:
    if hasattr(upload, "seek"):
        upload.seek(0)
    if hasattr(upload, "chunks"):
        yield from upload.chunks()
        return
    while chunk := upload.read(64 * 1024):
        yield chunk


def _scan(upload: Any, limit: int) -> _Scan:
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    head = bytearray()
    size = 0
    utf8 = True
    for chunk in _chunks(upload):
        size += len(chunk)
        if size > limit:
            break
        digest.update(chunk)
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
            utf8 = utf8 and b"\x00" not in chunk
    if utf8 and size <= limit:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return _Scan(size=size, sha256=digest.hexdigest(), head=bytes(head), utf8=utf8)


def detect_kind(data: bytes) -> str | None:
    """The kind of `data` (a whole file: png, jpeg, gif, webp, pdf, txt), or None for anything else."""
    return _kind(io.BytesIO(data), head=data[:HEAD_BYTES], utf8=_is_utf8(data))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


def _kind(source: Any, *, head: bytes, utf8: bool) -> str | None:
    guess = filetype.guess(head)
    kind = {"jpg": "jpeg"}.get(guess.extension, guess.extension) if guess is not None else None
    if kind in IMAGE_KINDS:
        return kind if _image_verifies(source, str(kind)) else None
    if head.startswith(b"%PDF-"):
        return "pdf"
    # The library reads a few leading bytes: text that starts "BM" or "MZ" is a BMP or an executable to it. A real
    # binary of any such kind has NUL bytes or invalid UTF-8 in it, which the scan refuses.
    if utf8 and _is_plain_text(head):
        return "txt"
    return None


def image_pixels(source: Any) -> int:
    """Width times height as the image's header says, read without decoding it."""
    source.seek(0)
    try:
        with Image.open(source) as image:
            width, height = image.size
    except Image.DecompressionBombError:  # Pillow refuses to open far beyond its own limit: too many, certainly
        return MAX_PIXELS + 1
    return int(width * height)


def _image_verifies(source: Any, kind: str) -> bool:
    try:
        source.seek(0)
        with Image.open(source) as image:
            if image.format != PILLOW_FORMATS[kind]:
                return False
            if image.size[0] * image.size[1] > MAX_PIXELS:
                return True  # what it is; check_upload refuses it for its size in pixels, with its own message
            image.verify()
    # A malformed image makes Pillow's parsers fail in many ways: each one means "not an image we accept".
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        IndexError,
        TypeError,
        struct.error,
    ):
        return False
    except Image.DecompressionBombError:
        return True  # an image of this kind announcing too many pixels: check_upload refuses it as such
    return True


def _is_plain_text(head: bytes) -> bool:
    """No markup at the start of a text already known to be UTF-8 (the head may end inside a character)."""
    text = head.decode("utf-8", errors="ignore").removeprefix("\ufeff")[:MARKUP_SCAN_CHARS]
    return not (MARKUP_START.match(text) or MARKUP_ANYWHERE.search(text))


def check_upload(upload: Any) -> CheckedFile:
    """Reads the upload (at most ATTACHMENT_MAX_BYTES + 1 bytes) and says what it is, or raises AttachmentRefused
    naming the file: empty, too large, or of a kind not in SUPPORT__ATTACHMENT_KINDS, whatever its name says."""
    name = sanitise_name(str(getattr(upload, "name", "") or ""))
    limit = int(settings.SUPPORT["ATTACHMENT_MAX_BYTES"])
    scan = _scan(upload, limit)
    if not scan.size:
        raise AttachmentRefused(f"{name} is empty.")
    if scan.size > limit:
        raise AttachmentRefused(f"{name} is larger than {_size(limit)}.")
    kinds = list(settings.SUPPORT["ATTACHMENT_KINDS"])
    source = upload if hasattr(upload, "seek") else io.BytesIO(b"".join(_chunks(upload)))
    kind = _kind(source, head=scan.head, utf8=scan.utf8)
    if kind is None or kind not in kinds:
        raise AttachmentRefused(f"{name} is not a file of an accepted kind ({', '.join(kinds)}).")
    if kind in IMAGE_KINDS and image_pixels(source) > MAX_PIXELS:
        raise AttachmentRefused(
            f"{name} is too large in pixels (more than {MAX_PIXELS // 1_000_000} million): send a smaller image."
        )
    extension = os.path.splitext(name)[1].lower().lstrip(".")
    if kind == "txt" and extension in NOT_TEXT_EXTENSIONS:
        raise AttachmentRefused(f"{name} is named as a .{extension} file but is text: rename it or send the real file.")
    return CheckedFile(
        kind=kind,
        content_type=CONTENT_TYPES[kind],
        source=source,
        size=scan.size,
        sha256=scan.sha256,
        name=name_for_kind(name, kind),
    )


def name_for_kind(name: str, kind: str) -> str:
    """`name` (sanitised) if its extension is one of the kind's, else with the kind's own extension added."""
    extensions = KIND_EXTENSIONS[kind]
    if os.path.splitext(name)[1].lower().lstrip(".") in extensions:
        return name
    return sanitise_name(f"{name}.{extensions[0]}")


def check_uploads(uploads: Sequence[Any]) -> list[CheckedFile]:
    most = int(settings.SUPPORT["ATTACHMENTS_PER_MESSAGE"])
    if len(uploads) > most:
        raise AttachmentRefused(f"At most {most} attachments per message ({len(uploads)} were sent).")
    return [check_upload(upload) for upload in uploads]


def _size(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MB"
    return f"{limit / 1024:g} KB"


def new_token() -> str:
    return secrets.token_urlsafe(16)[:22]


@contextmanager
def files_removed_on_failure() -> Iterator[list[str]]:
    """Yields the list store_attachments adds each stored file's name to; if the block raises (the transaction
    rolled back), those files are deleted before the error goes on."""
    stored: list[str] = []
    try:
        yield stored
    except BaseException:
        storage = Attachment._meta.get_field("file").storage
        for name in stored:
            try:
                storage.delete(name)
            except OSError:
                logger.exception("attachment file %s left behind after a failed transaction", name)
        raise


def store_attachments(
    *, ticket: Ticket, message: Message, files: Sequence[CheckedFile], stored: list[str]
) -> list[Attachment]:
    attachments = []
    for checked in files:
        attachment = Attachment(
            ticket=ticket,
            message=message,
            token=new_token(),
            name=checked.name,
            kind=checked.kind,
            content_type=checked.content_type,
            size=checked.size,
            sha256=checked.sha256,
        )
        checked.source.seek(0)
        attachment.file.save(attachment.token, File(checked.source), save=False)
        stored.append(str(attachment.file.name))
        attachment.save()
        attachments.append(attachment)
    return attachments
