"""detect_kind and extract: kinds by content, text in sections with heading paths or pages."""

from __future__ import annotations

import io
import zlib

import pypdf
import pytest

from apps.knowbase.exceptions import DocumentTooLarge, EmptyDocument, ExtractionFailed, UnsupportedDocument
from apps.knowbase.extraction import ExtractedText, Section, detect_kind, extract
from apps.knowbase.tests.pdfs import make_pdf


def _assert_sections_index_the_text(extracted: ExtractedText) -> None:
    for section in extracted.sections:
        assert extracted.text[section.start : section.start + len(section.text)] == section.text
        assert section.text == section.text.strip()
    starts = [section.start for section in extracted.sections]
    assert starts == sorted(starts)


def _paths(extracted: ExtractedText) -> list[tuple[tuple[str, ...], str]]:
    return [(section.heading_path, section.text) for section in extracted.sections]


def _encrypted(pdf: bytes, *, user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PDF = make_pdf(["First page text", "Second page text\nsecond line", "Third page text"], title="Three Pages")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8
GZIP = b"\x1f\x8b\x08\x00" + zlib.compress(b"hello")


# --- detection ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", [None, "report.pdf", "notes.txt", "page.html", "README.md"])
def test_a_pdf_is_a_pdf_whatever_its_name(filename: str | None) -> None:
    assert detect_kind(PDF, filename=filename, declared_type="text/plain") == "pdf"


def test_a_pdf_header_after_a_little_junk_is_a_pdf() -> None:
    assert detect_kind(b"\r\n  " + PDF) == "pdf"


@pytest.mark.parametrize(
    ("filename", "declared_type"), [("report.pdf", None), ("REPORT.PDF", None), (None, "application/pdf")]
)
def test_a_claimed_pdf_that_is_not_one_is_refused(filename: str | None, declared_type: str | None) -> None:
    with pytest.raises(UnsupportedDocument, match="not one"):
        detect_kind(b"<html><body>Please sign in</body></html>", filename=filename, declared_type=declared_type)


@pytest.mark.parametrize(
    ("data", "what"),
    [(PNG, "PNG"), (ZIP, "ZIP"), (GIF, "GIF"), (JPEG, "JPEG"), (ELF, "executable"), (GZIP, "gzip")],
)
def test_binary_formats_are_refused_even_with_a_text_name(data: bytes, what: str) -> None:
    with pytest.raises(UnsupportedDocument, match=what):
        detect_kind(data, filename="notes.txt", declared_type="text/plain")


@pytest.mark.parametrize(
    "data",
    [
        b"plain text with a \x00 NUL byte inside",
        bytes(range(256)) * 4,
        "caf\u00e9 in Latin-1".encode("latin-1"),
        b"\x01\x02\x03\x04 mostly control characters \x05\x06\x07\x08\x0e\x0f\x10\x11",
    ],
    ids=["nul", "random-bytes", "latin-1", "control-characters"],
)
def test_bytes_that_are_not_utf8_text_are_refused(data: bytes) -> None:
    with pytest.raises(UnsupportedDocument):
        detect_kind(data, filename="notes.txt")


def test_utf16_with_a_bom_is_text() -> None:
    data = "\ufeffPlain words in UTF-16.".encode("utf-16-le")
    assert data.startswith(b"\xff\xfe")
    assert detect_kind(data) == "text"
    assert extract(data, "text").text == "Plain words in UTF-16."


def test_utf8_with_a_bom_is_text_without_the_bom() -> None:
    data = b"\xef\xbb\xbfHello."
    assert detect_kind(data) == "text"
    assert extract(data, "text").text == "Hello."


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE html><html><body><p>Hi</p></body></html>",
        b"  \n<html lang='en'><p>Hi</p></html>",
        b"<?xml version='1.0'?>\n<html xmlns='http://www.w3.org/1999/xhtml'><body>Hi</body></html>",
        b"<!-- generated -->\n<!doctype html>\n<title>T</title>",
        b"<div class='post'><h1>Title</h1><p>Body</p></div>",
        b"<p>Just a fragment.</p>",
    ],
)
def test_html_is_recognised_by_content_even_when_named_txt(data: bytes) -> None:
    assert detect_kind(data, filename="page.txt", declared_type="text/plain") == "html"


def test_a_markdown_file_that_opens_with_an_html_block_stays_markdown() -> None:
    data = b'<p align="center"><img src="logo.png"></p>\n\n# Project\n\nAbout it.\n'
    assert detect_kind(data, filename="README.md") == "markdown"
    assert detect_kind(data, declared_type="text/markdown; charset=utf-8") == "markdown"


def test_a_full_html_document_named_md_is_html() -> None:
    assert detect_kind(b"<!doctype html><html><body>x</body></html>", filename="notes.md") == "html"


def test_declared_html_with_tags_is_html() -> None:
    assert detect_kind(b"Hello <b>world</b>", declared_type="text/html; charset=utf-8") == "html"
    assert detect_kind(b"Hello world", declared_type="text/html") == "text"


def test_plain_text_named_html_is_text() -> None:
    assert detect_kind(b"Just some words.\nMore words.", filename="page.html") == "text"


@pytest.mark.parametrize(
    ("data", "filename", "declared_type"),
    [
        (b"Just words.", "notes.md", None),
        (b"Just words.", "notes.markdown", None),
        (b"Just words.", None, "text/markdown"),
        (b"Intro\n\n# Install\n\nSteps.", "notes.txt", None),
        (b"Title\n=====\n\nBody.", None, None),
        (b"Run this:\n\n```\nmake run\n```\n", None, None),
    ],
    ids=["md-name", "markdown-name", "declared", "atx-heading", "setext-heading", "fenced-code"],
)
def test_markdown_by_name_declared_type_or_content(
    data: bytes, filename: str | None, declared_type: str | None
) -> None:
    assert detect_kind(data, filename=filename, declared_type=declared_type) == "markdown"


@pytest.mark.parametrize(
    "data",
    [
        b"Just some words.\nAnd a second line.",
        b"Price: #1 choice",
        b"#hashtag without a space",
        b"RIFF, ID3 and BZh are names of formats.",
        b"",
    ],
)
def test_prose_is_text(data: bytes) -> None:
    assert detect_kind(data, filename="notes.txt") == "text"


# --- plain text ---------------------------------------------------------------------------------------------------


def test_text_normalises_newlines_and_drops_nuls_in_one_section() -> None:
    extracted = extract(b"  First line\r\nsecond\rthird\x00 line\n\n", "text")
    assert extracted.text == "  First line\nsecond\nthird line\n\n"
    assert extracted.kind == "text"
    assert extracted.title is None
    assert extracted.page_count is None
    assert extracted.sections == (Section(text="First line\nsecond\nthird line", heading_path=(), page=None, start=2),)
    _assert_sections_index_the_text(extracted)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "text"),
        (b"  \n\t\n", "text"),
        (b"\n\n", "markdown"),
        (b"<html><head><title>Only a title</title><script>var x = 1;</script></head><body> </body></html>", "html"),
        (make_pdf(["", ""]), "pdf"),
    ],
)
def test_no_text_at_all_is_an_empty_document(data: bytes, kind: str) -> None:
    with pytest.raises(EmptyDocument):
        extract(data, kind)  # type: ignore[arg-type]


def test_undecodable_bytes_read_as_text_are_refused() -> None:
    with pytest.raises(UnsupportedDocument):
        extract(b"\xff\xfe\xfd not utf-8 \x80", "markdown")


# --- Markdown -----------------------------------------------------------------------------------------------------

MARKDOWN = """\
Intro before any heading.

# Guide

Welcome text.

## Install

Install text.

### Docker ###

Docker text.

```bash
# not a heading: a comment in code
echo "## neither is this"
```

Setext Section
--------------

Under setext.

Other Part
==========

Part text.

#### [Linked](https://example.com) **bold** `code`

Deep text.
"""


def test_markdown_sections_carry_their_heading_path() -> None:
    extracted = extract(MARKDOWN.encode(), "markdown")
    assert extracted.kind == "markdown"
    assert extracted.title == "Guide"
    assert extracted.text == MARKDOWN
    assert _paths(extracted) == [
        ((), "Intro before any heading."),
        (("Guide",), "Welcome text."),
        (("Guide", "Install"), "Install text."),
        (
            ("Guide", "Install", "Docker"),
            'Docker text.\n\n```bash\n# not a heading: a comment in code\necho "## neither is this"\n```',
        ),
        (("Guide", "Setext Section"), "Under setext."),
        (("Other Part",), "Part text."),
        (("Other Part", "Linked bold code"), "Deep text."),
    ]
    _assert_sections_index_the_text(extracted)


def test_markdown_heading_lines_are_in_the_text_but_in_no_section() -> None:
    extracted = extract(MARKDOWN.encode(), "markdown")
    for section in extracted.sections:
        assert "## Install" not in section.text
        assert "==========" not in section.text


def test_an_unclosed_fence_hides_headings_to_the_end() -> None:
    extracted = extract(b"# Top\n\n~~~\n# inside\n\n## still inside\n", "markdown")
    assert [section.heading_path for section in extracted.sections] == [("Top",)]


def test_a_rule_after_a_list_is_not_a_setext_heading() -> None:
    extracted = extract(b"# Top\n\n- item one\n---\n\nafter\n", "markdown")
    assert [section.heading_path for section in extracted.sections] == [("Top",)]


def test_front_matter_is_not_a_heading() -> None:
    extracted = extract(b"---\ntitle: Notes\n---\n\nBody text.\n", "markdown")
    assert [section.heading_path for section in extracted.sections] == [()]
    assert extracted.title is None


def test_a_markdown_file_of_headings_only_still_has_its_text() -> None:
    extracted = extract(b"# One\n\n## Two\n", "markdown")
    assert len(extracted.sections) == 1
    assert "One" in extracted.sections[0].text
    _assert_sections_index_the_text(extracted)


# --- HTML ---------------------------------------------------------------------------------------------------------

HTML = b"""<!DOCTYPE html>
<html>
<head>
  <title>The  Page &amp; Title</title>
  <style>body { color: red; } .stylesecret {}</style>
  <script>var scriptsecret = "do not index";</script>
</head>
<body onload="evil()">
  <!-- commentsecret: not for readers -->
  <h1>Main <em>Heading</em></h1>
  <p>First   paragraph
     with a <a href="javascript:alert(1)">link</a>.</p>
  <p>Line one<br>Line two</p>
  <script type="module">import("iframesecret")</script>
  <iframe src="https://ads.example">iframesecret</iframe>
  <noscript>noscriptsecret</noscript>
  <h2>Sub &lt;one&gt;</h2>
  <ul><li>Item A</li><li>Item B</li></ul>
  <table><tr><th>Name</th><th>Age</th></tr><tr><td>Ann</td><td>30</td></tr></table>
  <h2>Sub two</h2>
  <pre>code  line 1
    indented line 2</pre>
  <h3>Deep</h3>
  <div>Deep text</div>
  <svg><text>svgsecret</text></svg>
</body>
</html>
"""


def test_html_drops_scripts_styles_comments_and_embeds_with_their_text() -> None:
    extracted = extract(HTML, "html")
    for secret in ("scriptsecret", "stylesecret", "commentsecret", "iframesecret", "noscriptsecret", "svgsecret"):
        assert secret not in extracted.text
    for markup in ("<", "evil", "javascript", "color: red"):
        assert markup not in extracted.text.replace("Sub <one>", "")


def test_html_keeps_block_structure_and_headings() -> None:
    extracted = extract(HTML, "html")
    assert extracted.kind == "html"
    assert extracted.title == "The Page & Title"
    assert _paths(extracted) == [
        (("Main Heading",), "First paragraph with a link.\n\nLine one\nLine two"),
        (("Main Heading", "Sub <one>"), "Item A\nItem B\n\nName | Age\nAnn | 30"),
        (("Main Heading", "Sub two"), "code  line 1\n    indented line 2"),
        (("Main Heading", "Sub two", "Deep"), "Deep text"),
    ]
    assert extracted.text.startswith("Main Heading\n\nFirst paragraph")
    _assert_sections_index_the_text(extracted)


def test_html_title_falls_back_to_the_first_h1() -> None:
    extracted = extract(b"<div><p>Lead.</p><h2>Minor</h2><h1>Big One</h1><p>Body.</p></div>", "html")
    assert extracted.title == "Big One"
    assert _paths(extracted) == [((), "Lead."), (("Big One",), "Body.")]


def test_html_without_headings_is_one_section() -> None:
    extracted = extract(b"<p>One.</p><p>Two.</p>", "html")
    assert extracted.title is None
    assert _paths(extracted) == [((), "One.\n\nTwo.")]


# --- PDF ----------------------------------------------------------------------------------------------------------


def test_pdf_has_one_section_per_page_with_page_numbers() -> None:
    extracted = extract(PDF, "pdf")
    assert extracted.kind == "pdf"
    assert extracted.page_count == 3
    assert extracted.title == "Three Pages"
    assert [(section.page, section.text) for section in extracted.sections] == [
        (1, "First page text"),
        (2, "Second page text\nsecond line"),
        (3, "Third page text"),
    ]
    assert all(section.heading_path == () for section in extracted.sections)
    _assert_sections_index_the_text(extracted)


def test_pdf_pages_without_text_keep_the_numbering_of_the_others() -> None:
    extracted = extract(make_pdf(["one", "", "three"]), "pdf")
    assert [(section.page, section.text) for section in extracted.sections] == [(1, "one"), (3, "three")]
    assert extracted.page_count == 3
    assert extracted.title is None


def test_pdf_with_special_characters() -> None:
    extracted = extract(make_pdf(["Parens (like this) and a back\\slash, caf\u00e9"]), "pdf")
    assert extracted.sections[0].text == "Parens (like this) and a back\\slash, caf\u00e9"


def test_pdf_with_more_pages_than_the_limit_is_too_large() -> None:
    with pytest.raises(DocumentTooLarge, match="limit is 2"):
        extract(PDF, "pdf", max_pages=2)
    assert extract(PDF, "pdf", max_pages=3).page_count == 3


def test_a_password_protected_pdf_fails_saying_so() -> None:
    with pytest.raises(ExtractionFailed, match="password"):
        extract(_encrypted(PDF, user_password="secret"), "pdf")


def test_a_pdf_encrypted_with_an_empty_user_password_is_read() -> None:
    extracted = extract(_encrypted(PDF, user_password=""), "pdf")
    assert [section.page for section in extracted.sections] == [1, 2, 3]


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\nnothing else", PDF[: len(PDF) // 2], b"%PDF-1.7\n" + b"\x00garbage" * 200 + b"\n%%EOF\n"],
    ids=["header-only", "truncated", "garbage"],
)
def test_a_broken_pdf_fails_with_the_reason(data: bytes) -> None:
    with pytest.raises(ExtractionFailed, match="could not be read"):
        extract(data, "pdf")


def test_make_pdf_writes_a_strictly_valid_pdf() -> None:
    reader = pypdf.PdfReader(io.BytesIO(PDF), strict=True)
    assert len(reader.pages) == 3
    assert reader.metadata is not None and reader.metadata.title == "Three Pages"
