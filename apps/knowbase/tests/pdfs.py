"""Small PDFs written by hand for tests: one Helvetica text object per page, a line of the PDF per line of text.

    make_pdf(["First page", "Second page\nwith two lines"], title="A title") -> bytes

The output is a valid PDF 1.4 file (cross-reference table with exact offsets) that pypdf, browsers and poppler
read. Text is encoded as WinAnsi (Latin-1 here): characters outside it become "?".
"""

from __future__ import annotations

_PAGE_WIDTH = 612
_PAGE_HEIGHT = 792
_MARGIN = 72
_FONT_SIZE = 11
_LEADING = 14


def _pdf_string(text: str) -> bytes:
    """A PDF literal string: (…) with backslashes and parentheses escaped."""
    raw = text.encode("latin-1", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _content_stream(text: str) -> bytes:
    lines = text.replace("\r\n", "\n").split("\n")
    ops = [
        b"BT",
        b"/F1 %d Tf" % _FONT_SIZE,
        b"%d TL" % _LEADING,
        b"%d %d Td" % (_MARGIN, _PAGE_HEIGHT - _MARGIN),
    ]
    for index, line in enumerate(lines):
        if index:
            ops.append(b"T*")
        ops.append(_pdf_string(line) + b" Tj")
    ops.append(b"ET")
    return b"\n".join(ops)


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A PDF with one page per item of `pages` (each may hold several lines) and, if given, a /Title in its
    document information dictionary. An empty string makes a page with no text."""
    if not pages:
        raise ValueError("a PDF needs at least one page")
    objects: list[bytes] = []  # object number n is objects[n - 1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled once the page tree's number is known
    pages_ref = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids: list[int] = []
    for text in pages:
        stream = _content_stream(text) if text else b""
        contents = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 %d 0 R >> >> "
                b"/Contents %d 0 R >>" % (pages_ref, _PAGE_WIDTH, _PAGE_HEIGHT, font, contents)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_ref
    objects[pages_ref - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
    info = add(b"<< /Title %s /Producer (knowbase tests) >>" % _pdf_string(title)) if title is not None else None

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info is not None:
        trailer += b" /Info %d 0 R" % info
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)
