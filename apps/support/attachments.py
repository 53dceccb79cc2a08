"""Attachments: what an upload is, recognised by its content (never by its name or declared type), and storing it in
the private storage so that no file outlives a transaction that failed.

    checked = [check_upload(upload) for upload in uploads]      # before anything is written
    with files_removed_on_failure() as stored:
        with transaction.atomic():
            ...
            store_attachments(ticket=..., message=..., files=checked, stored=stored)
"""

from __future__ import annotations

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
from django.core.files.base import ContentFile
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


@dataclass(frozen=True)
class CheckedFile:
    kind: str
    content_type: str
    data: bytes
    sha256: str
    name: str

    @property
    def size(self) -> int:
        return len(self.data)


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


def _read(upload: Any, limit: int) -> bytes:
    if hasattr(upload, "seek"):
        upload.seek(0)
    if hasattr(upload, "chunks"):
        data = bytearray()
        for chunk in upload.chunks():
            data += chunk
            if len(data) > limit:
                break
        return bytes(data[: limit + 1])
    return bytes(upload.read(limit + 1))


def detect_kind(data: bytes) -> str | None:
    """The kind of the content (png, jpeg, gif, webp, pdf, txt), or None for anything else."""
    guess = filetype.guess(data)
    kind = {"jpg": "jpeg"}.get(guess.extension, guess.extension) if guess is not None else None
    if kind in IMAGE_KINDS:
        return kind if _image_verifies(data, str(kind)) else None
    if data.startswith(b"%PDF-"):
        return "pdf"
    # The library reads a few leading bytes: text that starts "BM" or "MZ" is a BMP or an executable to it. A real
    # binary of any such kind has NUL bytes or invalid UTF-8 in it, which _is_text refuses.
    if _is_text(data):
        return "txt"
    return None


def _image_verifies(data: bytes, kind: str) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != PILLOW_FORMATS[kind]:
                return False
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
        Image.DecompressionBombError,
    ):
        return False
    return True


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    head = text.removeprefix("\ufeff")[:MARKUP_SCAN_CHARS]
    return not (MARKUP_START.match(head) or MARKUP_ANYWHERE.search(head))


def check_upload(upload: Any) -> CheckedFile:
    """Reads the upload (at most ATTACHMENT_MAX_BYTES + 1 bytes) and says what it is, or raises AttachmentRefused
    naming the file: empty, too large, or of a kind not in SUPPORT__ATTACHMENT_KINDS, whatever its name says."""
    name = sanitise_name(str(getattr(upload, "name", "") or ""))
    limit = int(settings.SUPPORT["ATTACHMENT_MAX_BYTES"])
    data = _read(upload, limit)
    if not data:
        raise AttachmentRefused(f"{name} is empty.")
    if len(data) > limit:
        raise AttachmentRefused(f"{name} is larger than {_size(limit)}.")
    kinds = list(settings.SUPPORT["ATTACHMENT_KINDS"])
    kind = detect_kind(data)
    if kind is None or kind not in kinds:
        raise AttachmentRefused(f"{name} is not a file of an accepted kind ({', '.join(kinds)}).")
    extension = os.path.splitext(name)[1].lower().lstrip(".")
    if kind == "txt" and extension in NOT_TEXT_EXTENSIONS:
        raise AttachmentRefused(f"{name} is named as a .{extension} file but is text: rename it or send the real file.")
    return CheckedFile(
        kind=kind,
        content_type=CONTENT_TYPES[kind],
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
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
        attachment.file.save(attachment.token, ContentFile(checked.data), save=False)
        stored.append(str(attachment.file.name))
        attachment.save()
        attachments.append(attachment)
    return attachments
