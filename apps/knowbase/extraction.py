"""Reading a document's text: what kind the bytes are (by content) and the text in sections with their headings
or pages. Pure functions: no database, no network.

The text of an ExtractedText is what chunks index into. For Markdown it is the source itself (newlines normalised);
for HTML it is the visible text, one block per paragraph, heading lines included; for a PDF the pages' text joined
by blank lines. A Section is a stretch of that text under one heading (or on one page), without the heading line:
`text[section.start : section.start + len(section.text)] == section.text` always holds.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from itertools import islice
from typing import TYPE_CHECKING, Literal

import nh3

from apps.knowbase.exceptions import DocumentTooLarge, EmptyDocument, ExtractionFailed, UnsupportedDocument

if TYPE_CHECKING:
    import pypdf

Kind = Literal["text", "markdown", "html", "pdf"]

KINDS: tuple[Kind, ...] = ("text", "markdown", "html", "pdf")


@dataclass(frozen=True)
class Section:
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    start: int  # the offset of `text` in ExtractedText.text


@dataclass(frozen=True)
class ExtractedText:
    text: str
    sections: tuple[Section, ...]
    title: str | None
    page_count: int | None
    kind: Kind


# ---------------------------------------------------------------------------------------------------------------
# Detection


# Signatures of binary formats, named in the error (the UTF-8 and control-character checks catch the rest).
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh91AY&SY", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document"),
    (b"\x7fELF", "an executable"),
    (b"MZ\x90\x00", "a Windows executable"),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O file"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\x00asm", "a WebAssembly module"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"OggS", "an Ogg file"),
    (b"ID3\x03", "an MP3 file"),
    (b"ID3\x04", "an MP3 file"),
    (b"fLaC\x00", "a FLAC file"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"wOFF", "a web font"),
    (b"wOF2", "a web font"),
)

_PDF_MAGIC = b"%PDF-"
# A PDF's header may follow a little junk (some generators write a few bytes first); readers look in the first KiB.
_PDF_HEADER_WINDOW = 1024

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)

# C0 controls other than tab, newline, vertical tab, form feed, carriage return and escape: a text file has
# (almost) none; a binary file read as UTF-8 is full of them.
_CONTROL_CHARS = re.compile(r"[\x01-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_CONTROL_SAMPLE = 65_536
_CONTROL_MAX_SHARE = 0.01

# Strong HTML signals: a document that opens with one of these is HTML whatever its name says.
_HTML_STRONG = re.compile(
    r"(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>/]", re.I | re.S
)
# Weaker: the text opens with an HTML element (a fragment such as "<div><p>…"); a Markdown file may open that way
# too (a README's centred logo), so a Markdown name or declared type wins over this one.
_HTML_TAGS = (
    "a|abbr|address|article|aside|b|blockquote|br|caption|center|code|dd|details|div|dl|dt|em|figure|footer|form|"
    "h[1-6]|header|hr|i|img|li|link|main|meta|nav|ol|p|pre|script|section|span|strong|style|table|tbody|td|th|"
    "thead|title|tr|u|ul"
)
_HTML_LEADING_TAG = re.compile(rf"(?:<!--.*?-->\s*)*<(?:{_HTML_TAGS})[\s>/]", re.I | re.S)
_TAG_LIKE = re.compile(r"<[a-zA-Z!/]")

_MD_HEADING_LINE = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.M)
_MD_FENCE_LINE = re.compile(r"^ {0,3}(?:```|~~~)", re.M)
_MD_SETEXT_H1 = re.compile(r"^[^\n\s][^\n]*\n {0,3}=+[ \t]*$", re.M)
_MD_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
_MD_TYPES = ("text/markdown", "text/x-markdown")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def detect_kind(data: bytes, *, filename: str | None = None, declared_type: str | None = None) -> Kind:
    """The kind of `data`, decided by its content. The name and the declared type only choose between the text
    kinds (Markdown or plain text, HTML fragment or Markdown) and refuse a claimed PDF that is not one: a file named
    .pdf (or declared application/pdf) that is not a PDF is refused, a PDF named .txt is a PDF. Raises
    UnsupportedDocument for anything that is not PDF or UTF-8/UTF-16 text."""
    if _PDF_MAGIC in data[:_PDF_HEADER_WINDOW]:
        return "pdf"
    for magic, what in _BINARY_MAGIC:
        if data.startswith(magic):
            raise UnsupportedDocument(f"This file is {what}. Upload plain text, Markdown, HTML or PDF.")
    if data.startswith(b"RIFF") and data[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        raise UnsupportedDocument("This file is an image, sound or video. Upload plain text, Markdown, HTML or PDF.")
    media_type = (declared_type or "").split(";", 1)[0].strip().lower()
    name = (filename or "").strip().lower()
    if name.endswith(".pdf") or media_type == "application/pdf":
        # Whatever it holds (an error page, a truncated download), it is not the PDF it claims to be.
        raise UnsupportedDocument("This file is said to be a PDF but is not one.")
    text = _decode_text(data)
    says_markdown = name.endswith(_MD_SUFFIXES) or media_type in _MD_TYPES
    head = text[:4096].lstrip()
    if _HTML_STRONG.match(head):
        return "html"
    if not says_markdown and (_HTML_LEADING_TAG.match(head) or (media_type in _HTML_TYPES and _TAG_LIKE.search(head))):
        return "html"
    if says_markdown or _looks_like_markdown(text):
        return "markdown"
    return "text"


def _looks_like_markdown(text: str) -> bool:
    if _MD_HEADING_LINE.search(text) or _MD_SETEXT_H1.search(text):
        return True
    # One fence line could be anything; an opened and closed fence is Markdown.
    return next(islice(_MD_FENCE_LINE.finditer(text), 1, None), None) is not None


def _decode_text(data: bytes) -> str:
    """UTF-8 (with or without a BOM) or UTF-16 with a BOM; anything else, or text full of control characters, is
    not a document we read."""
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            data, encoding = data[len(bom) :], name
            break
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise UnsupportedDocument(
            "This file is neither a PDF nor UTF-8 text. Upload plain text, Markdown, HTML or PDF (text in UTF-8)."
        ) from None
    if "\x00" in text:
        raise UnsupportedDocument("This file holds binary data. Upload plain text, Markdown, HTML or PDF.")
    sample = text[:_CONTROL_SAMPLE]
    if sample and len(_CONTROL_CHARS.findall(sample)) > len(sample) * _CONTROL_MAX_SHARE:
        raise UnsupportedDocument("This file holds binary data. Upload plain text, Markdown, HTML or PDF.")
    return text


def _normalise(text: str) -> str:
    """Newlines to \\n, NULs and a leading BOM dropped, form feeds as newlines."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").replace("\x00", "")


def _decode_for_extraction(data: bytes) -> str:
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            data, encoding = data[len(bom) :], name
            break
    try:
        return _normalise(data.decode(encoding))
    except UnicodeDecodeError:
        raise UnsupportedDocument("The text is not valid UTF-8.") from None


# ---------------------------------------------------------------------------------------------------------------
# Extraction


def extract(data: bytes, kind: Kind, *, max_pages: int = 500) -> ExtractedText:
    """The text of `data` read as `kind`, in sections. Raises EmptyDocument when there is no text at all,
    ExtractionFailed when a PDF cannot be read (encrypted, broken), DocumentTooLarge past `max_pages`."""
    if kind == "pdf":
        result = _extract_pdf(data, max_pages=max_pages)
    elif kind == "html":
        result = _extract_html(_decode_for_extraction(data))
    elif kind == "markdown":
        result = _extract_markdown(_decode_for_extraction(data))
    elif kind == "text":
        result = _extract_plain(_decode_for_extraction(data))
    else:  # pragma: no cover - the Literal covers it; a caller passing a stray string gets a clear error
        raise UnsupportedDocument(f"Unknown document kind {kind!r}.")
    if not result.sections:
        raise EmptyDocument()
    return result


def _section(text: str, start: int, end: int, heading_path: tuple[str, ...], page: int | None) -> Section | None:
    """The stretch text[start:end] without its surrounding whitespace, or None when it is blank."""
    body = text[start:end]
    stripped = body.strip()
    if not stripped:
        return None
    return Section(text=stripped, heading_path=heading_path, page=page, start=start + body.index(stripped[0]))


def _extract_plain(text: str) -> ExtractedText:
    section = _section(text, 0, len(text), (), None)
    return ExtractedText(text=text, sections=(section,) if section else (), title=None, page_count=None, kind="text")


def _push_heading(stack: list[tuple[int, str]], level: int, name: str) -> tuple[str, ...]:
    while stack and stack[-1][0] >= level:
        stack.pop()
    stack.append((level, name))
    return tuple(n for _, n in stack)


# --- Markdown ---------------------------------------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_BLOCK_START = re.compile(r"^(?: {0,3}(?:[-+*>]|\d{1,9}[.)])(?:[ \t]|$)| {4,}|\t)")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_SPACES = re.compile(r"\s+")


def _md_inline(text: str) -> str:
    """A heading's words without Markdown markup: links as their text, no emphasis markers or backticks."""
    return _SPACES.sub(" ", _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", text))).strip()


@dataclass(frozen=True)
class _MdHeading:
    first_line: int
    last_line: int
    level: int
    name: str


def _md_headings(lines: list[str]) -> list[_MdHeading]:
    """ATX and setext headings by line number. Lines inside fenced code and YAML front matter are never headings;
    a setext underline takes the paragraph lines above it (CommonMark), unless that paragraph opens with a list or
    quote marker (then `---` is a rule)."""
    headings: list[_MdHeading] = []
    fence: tuple[str, int] | None = None
    paragraph_start: int | None = None
    i = 0
    if lines and lines[0].rstrip("\n") == "---":
        for j in range(1, len(lines)):
            if lines[j].rstrip("\n") in ("---", "..."):
                i = j + 1
                break
    while i < len(lines):
        line = lines[i].rstrip("\n")
        if fence is not None:
            stripped = line.strip()
            if stripped.startswith(fence[0] * fence[1]) and not stripped.strip(fence[0]) and line[:4].strip():
                fence = None
            i += 1
            continue
        opening = _FENCE_OPEN.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = (opening.group(1)[0], len(opening.group(1)))
            paragraph_start = None
            i += 1
            continue
        if not line.strip():
            paragraph_start = None
            i += 1
            continue
        atx = _ATX.match(line)
        if atx and (name := _md_inline(atx.group(2) or "")):
            headings.append(_MdHeading(i, i, len(atx.group(1)), name))
            paragraph_start = None
            i += 1
            continue
        setext = _SETEXT.match(line)
        if setext and paragraph_start is not None and not _BLOCK_START.match(lines[paragraph_start]):
            name = _md_inline(" ".join(lines[paragraph_start:i]))
            if name:
                headings.append(_MdHeading(paragraph_start, i, 1 if setext.group(1)[0] == "=" else 2, name))
                paragraph_start = None
                i += 1
                continue
        if paragraph_start is None:
            paragraph_start = i
        i += 1
    return headings


def _extract_markdown(text: str) -> ExtractedText:
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    path: tuple[str, ...] = ()
    title: str | None = None
    body_start = 0
    for heading in _md_headings(lines):
        if (section := _section(text, body_start, offsets[heading.first_line], path, None)) is not None:
            sections.append(section)
        path = _push_heading(stack, heading.level, heading.name)
        if title is None and heading.level == 1:
            title = heading.name
        body_start = offsets[heading.last_line + 1]
    if (section := _section(text, body_start, len(text), path, None)) is not None:
        sections.append(section)
    if not sections and (whole := _section(text, 0, len(text), (), None)) is not None:
        sections.append(whole)  # headings and nothing under them: the headings are the text
    return ExtractedText(text=text, sections=tuple(sections), title=title, page_count=None, kind="markdown")


# --- HTML -------------------------------------------------------------------------------------------------------

# Elements whose content is never text: dropped whole, text included (nh3's clean_content_tags).
_HTML_DROP = {
    "script", "style", "iframe", "noscript", "template", "object", "embed", "applet", "frame", "frameset",
    "noframes", "svg", "math", "canvas", "audio", "video", "select", "button", "textarea", "head",
}  # fmt: skip
_HTML_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Elements that start and end a block of text. The rest (inline elements, unknown tags) are unwrapped by nh3.
_HTML_BLOCKS = {
    "address", "article", "aside", "blockquote", "caption", "center", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup", "hr", "legend", "li", "main", "menu",
    "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
}  # fmt: skip
# Blocks that are one line of a list or table: consecutive ones are joined by a newline, not a blank line.
_HTML_TIGHT = {"li", "dt", "dd", "tr"}
_HTML_GROUPS = {"ul", "ol", "dl", "menu", "table"}
_HTML_CELLS = {"td", "th"}
_HTML_KEEP = _HTML_BLOCKS | _HTML_CELLS | set(_HTML_HEADINGS) | {"br", "title"}


@dataclass
class _Block:
    text: str
    heading_level: int = 0
    tight: bool = False
    group: int = 0  # the list or table it is a line of


class _HtmlText(HTMLParser):
    """Walks sanitised HTML into blocks of visible text (whitespace collapsed as a browser would, <pre> kept)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[_Block] = []
        self.title_parts: list[str] = []
        self._buffer: list[str] = []
        self._in_title = False
        self._pre_depth = 0
        self._heading_level = 0
        self._row_has_cell = False
        self._tight = False
        self._group = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "br":
            self._buffer.append("\n")
        elif tag in _HTML_CELLS:
            if self._row_has_cell:
                self._buffer.append(" | ")
            self._row_has_cell = True
        elif tag in _HTML_HEADINGS:
            self._flush()
            self._heading_level = _HTML_HEADINGS[tag]
        elif tag in _HTML_BLOCKS:
            self._flush()
            self._tight = tag in _HTML_TIGHT
            if tag in _HTML_GROUPS:
                self._group += 1
            if tag == "tr":
                self._row_has_cell = False
            if tag == "pre":
                self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag != "br":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _HTML_HEADINGS:
            self._flush()
        elif tag in _HTML_BLOCKS:
            self._flush()
            self._tight = False
            if tag in _HTML_GROUPS:
                self._group += 1
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif self._pre_depth:
            self._buffer.append(data)
        else:
            self._buffer.append(_SPACES.sub(" ", data))

    def close(self) -> None:
        super().close()
        self._flush()

    def _flush(self) -> None:
        raw = "".join(self._buffer)
        self._buffer = []
        if self._pre_depth:  # preformatted: lines and indentation kept, blank lines at either end dropped
            text = "\n".join(line.rstrip() for line in raw.split("\n")).strip("\n")
        else:  # newlines here come from <br> only: data whitespace was collapsed to spaces
            text = "\n".join(line for line in (_SPACES.sub(" ", part).strip() for part in raw.split("\n")) if line)
        if text.strip():
            tight = self._tight and not self._heading_level
            self.blocks.append(_Block(text, self._heading_level, tight, self._group))
        self._heading_level = 0


def _extract_html(source: str) -> ExtractedText:
    cleaned = nh3.clean(
        source,
        tags=_HTML_KEEP,
        clean_content_tags=_HTML_DROP,
        attributes={},
        strip_comments=True,
        link_rel=None,
    )
    walker = _HtmlText()
    walker.feed(cleaned)
    walker.close()

    parts: list[str] = []
    length = 0
    spans: list[tuple[int, int, tuple[str, ...]]] = []  # each section's (start, end, heading path)
    stack: list[tuple[int, str]] = []
    path: tuple[str, ...] = ()
    first_h1: str | None = None
    body: tuple[int, int] | None = None  # the span of the current section's blocks
    previous: _Block | None = None
    for block in walker.blocks:
        if previous is not None:
            same_list = block.tight and previous.tight and block.group == previous.group
            separator = "\n" if same_list else "\n\n"
            parts.append(separator)
            length += len(separator)
        start = length
        parts.append(block.text)
        length += len(block.text)
        if block.heading_level:
            if body is not None:
                spans.append((*body, path))
            body = None
            name = _SPACES.sub(" ", block.text).strip()
            path = _push_heading(stack, block.heading_level, name)
            if first_h1 is None and block.heading_level == 1:
                first_h1 = name
        else:
            body = (body[0] if body is not None else start, length)
        previous = block
    if body is not None:
        spans.append((*body, path))
    text = "".join(parts)
    sections = [Section(text=text[start:end], heading_path=path, page=None, start=start) for start, end, path in spans]
    if not sections and text.strip():
        sections.append(Section(text=text, heading_path=(), page=None, start=0))
    title = _SPACES.sub(" ", "".join(walker.title_parts)).strip() or first_h1
    return ExtractedText(text=text, sections=tuple(sections), title=title, page_count=None, kind="html")


# --- PDF --------------------------------------------------------------------------------------------------------

_PAGE_SEPARATOR = "\n\n"


def _extract_pdf(data: bytes, *, max_pages: int) -> ExtractedText:
    # pypdf (and the cryptography it loads) is paid for by the process that reads a PDF, not by every one that
    # imports this module to detect a kind.
    import pypdf
    from pypdf.errors import DependencyError

    # pypdf parses untrusted bytes and may fail in many ways (its own errors, but also ValueError, KeyError,
    # RecursionError… on malformed files): any failure while reading is the document's, reported as such.
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        # An empty user password opens the many PDFs that are "encrypted" only to restrict printing or copying.
        opened = not reader.is_encrypted or bool(reader.decrypt(""))
    except DependencyError:  # AES without the `cryptography` package
        raise ExtractionFailed(
            "The PDF is encrypted in a way this server cannot open. Upload a copy without protection."
        ) from None
    except Exception as error:
        raise ExtractionFailed(f"The PDF could not be read ({_reason(error)}).") from None
    if not opened:
        raise ExtractionFailed("The PDF is protected by a password. Upload a copy without the password.")
    try:
        page_count = len(reader.pages)
    except Exception as error:
        raise ExtractionFailed(f"The PDF's pages could not be read ({_reason(error)}).") from None
    if page_count > max_pages:
        raise DocumentTooLarge(f"The PDF has {page_count} pages; the limit is {max_pages}.")

    parts: list[str] = []
    sections: list[Section] = []
    length = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            page_text = page.extract_text()
        except Exception as error:
            raise ExtractionFailed(f"Page {number} of the PDF could not be read ({_reason(error)}).") from None
        text = _normalise(page_text).strip()
        if not text:
            continue
        if parts:
            parts.append(_PAGE_SEPARATOR)
            length += len(_PAGE_SEPARATOR)
        sections.append(Section(text=text, heading_path=(), page=number, start=length))
        parts.append(text)
        length += len(text)
    if not sections:
        raise EmptyDocument("The PDF holds no text (a scan without a text layer?).")
    return ExtractedText(
        text="".join(parts),
        sections=tuple(sections),
        title=_pdf_title(reader),
        page_count=page_count,
        kind="pdf",
    )


def _pdf_title(reader: pypdf.PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:
        return None
    if isinstance(title, str) and (title := _SPACES.sub(" ", title.replace("\x00", "")).strip()):
        return title
    return None


def _reason(error: Exception) -> str:
    return str(error).strip() or type(error).__name__
