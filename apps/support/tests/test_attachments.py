"""Attachments are recognised by their content, whatever their name or declared type says; refused ones leave
nothing behind; accepted ones are stored in the private storage under a random name."""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from pathlib import Path

import pytest
from django.db import transaction

from apps.support import attachments, services
from apps.support.attachments import check_upload
from apps.support.exceptions import AttachmentRefused, TicketClosed
from apps.support.models import Attachment, Message, Ticket
from apps.support.tests.factories import (
    PDF_BYTES,
    gif_bytes,
    jpeg_bytes,
    png_bytes,
    staff_answer,
    ticket_create,
    upload,
    user_create,
    webp_bytes,
)

pytestmark = pytest.mark.django_db

HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00" + b"\x00" * 64
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header announcing an image of that size (and no pixels)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def files_in(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()] if directory.exists() else []


# What a file is


@pytest.mark.parametrize(
    ("name", "data", "kind", "content_type"),
    [
        ("photo.png", png_bytes(), "png", "image/png"),
        ("photo.jpg", jpeg_bytes(), "jpeg", "image/jpeg"),
        ("anim.gif", gif_bytes(), "gif", "image/gif"),
        ("pic.webp", webp_bytes(), "webp", "image/webp"),
        ("invoice.pdf", PDF_BYTES, "pdf", "application/pdf"),
        ("notes.txt", "Ünïcode notes\nline two\n".encode(), "txt", "text/plain; charset=utf-8"),
        ("error.log", b"Traceback: <stdin> line 1", "txt", "text/plain; charset=utf-8"),
        # Text that starts as a BMP or an executable would (to a reader of the first bytes) is still text.
        ("cars.txt", b"BMW, Audi and others", "txt", "text/plain; charset=utf-8"),
        ("dos.txt", b"MZ was the signature of DOS programs", "txt", "text/plain; charset=utf-8"),
    ],
)
def test_accepted_kinds_are_recognised(name, data, kind, content_type):
    checked = check_upload(upload(name, data))
    assert (checked.kind, checked.content_type, checked.name) == (kind, content_type, name)
    checked.source.seek(0)
    assert checked.source.read() == data and checked.size == len(data)
    assert checked.sha256 == hashlib.sha256(data).hexdigest()


def test_a_png_named_txt_is_a_png():
    checked = check_upload(upload("not-really.txt", png_bytes(), content_type="text/plain"))
    assert (checked.kind, checked.content_type) == ("png", "image/png")


def test_a_text_file_named_png_is_refused():
    with pytest.raises(AttachmentRefused, match=r"fake\.png is named as a \.png file but is text"):
        check_upload(upload("fake.png", b"just some words", content_type="image/png"))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("page.html", HTML),
        ("page.txt", HTML),
        ("page.txt", b"  \n<html><body>hi</body></html>"),
        ("notes.txt", b"harmless start\n<script>alert(1)</script>"),
        ("logo.svg", SVG),
        ("logo.png", SVG),
        ("logo.txt", b'<svg xmlns="http://www.w3.org/2000/svg"/>'),
        ("setup.exe", EXE),
        ("setup.pdf", EXE),
        ("archive.zip", ZIP),
        ("picture.bmp", b"BM" + b"\x00" * 60),
        ("song.mp3", b"ID3\x03\x00\x00\x00\x00\x00\x21" + b"\xff\xfb" * 20),
        ("binary.txt", b"abc\x00def"),
        ("latin1.txt", "café".encode("latin-1")),
        ("fake.pdf", b"%PDX-1.4 nope"),
        ("broken.png", png_bytes()[:40]),
        ("header-only.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50),
    ],
)
def test_anything_else_is_refused_whatever_its_name_or_declared_type(name, data):
    with pytest.raises(AttachmentRefused, match=f"^{re.escape(name)} "):
        check_upload(upload(name, data, content_type="image/png"))


@pytest.mark.parametrize("side", [10_000, 50_000])
def test_an_image_announcing_too_many_pixels_is_refused_unread(side):
    # 100 million pixels stay below Pillow's own limit, yet decode to 300 MB in the viewer of whoever opens it.
    with pytest.raises(AttachmentRefused, match=r"^bomb\.png is too large in pixels \(more than 40 million\)"):
        check_upload(upload("bomb.png", png_claiming(side, side)))


def test_an_accepted_file_is_stored_from_the_upload_not_from_a_copy_in_memory():
    sent = upload("shot.png", png_bytes())
    assert check_upload(sent).source is sent


def test_an_empty_file_is_refused():
    with pytest.raises(AttachmentRefused, match=r"^empty\.txt is empty\.$"):
        check_upload(upload("empty.txt", b""))


def test_a_file_over_the_limit_is_refused_and_one_at_it_accepted(settings):
    settings.SUPPORT = {**settings.SUPPORT, "ATTACHMENT_MAX_BYTES": 2048}
    with pytest.raises(AttachmentRefused, match=r"^big\.txt is larger than 2 KB\.$"):
        check_upload(upload("big.txt", b"a" * 2049))
    assert check_upload(upload("fits.txt", b"a" * 2048)).size == 2048


def test_only_the_kinds_the_settings_name_are_accepted(settings):
    settings.SUPPORT = {**settings.SUPPORT, "ATTACHMENT_KINDS": ["png", "pdf"]}
    assert check_upload(upload("a.png", png_bytes())).kind == "png"
    with pytest.raises(AttachmentRefused, match=r"not a file of an accepted kind \(png, pdf\)"):
        check_upload(upload("a.txt", b"text"))
    with pytest.raises(AttachmentRefused):
        check_upload(upload("a.gif", gif_bytes()))


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\ada\\report.txt", "report.txt"),
        ("bad\x00\x1b[31mname\u202e.txt", "bad[31mname.txt"),
        ("", "attachment"),
        ("...", "attachment"),
        ("a" * 300 + ".txt", "a" * 196 + ".txt"),
    ],
)
def test_names_are_sanitised(given, kept):
    assert attachments.sanitise_name(given) == kept


# A GIF with a script after it: a polyglot crafted so that its header parses as JavaScript too would be run by
# Windows when opened under a .js name, whatever the GIF decoder says of it.
GIF_SCRIPT = gif_bytes() + b"\n=1;new ActiveXObject('WScript.Shell').Run('calc');//"


@pytest.mark.parametrize(
    ("given", "data", "offered"),
    [
        ("invoice.js", GIF_SCRIPT, "invoice.js.gif"),
        ("run.bat", png_bytes(), "run.bat.png"),
        ("app.hta", jpeg_bytes(), "app.hta.jpg"),
        ("page.html", PDF_BYTES, "page.html.pdf"),
        ("shot.txt", webp_bytes(), "shot.txt.webp"),
        ("import.reg", b"Windows Registry Editor Version 5.00\n", "import.reg.txt"),
        ("link.url", b"[InternetShortcut]\nURL=file://attacker/share\n", "link.url.txt"),
        ("README", b"read me", "README.txt"),
        ("...", b"words", "attachment.txt"),
        # Cut to the longest name, the kind's extension last.
        ("a" * 199 + ".js", gif_bytes(), "a" * 196 + ".gif"),
        # A name that already says what the file is stays as it was.
        ("photo.JPG", jpeg_bytes(), "photo.JPG"),
        ("photo.jpeg", jpeg_bytes(), "photo.jpeg"),
        ("anim.gif", gif_bytes(), "anim.gif"),
        ("scan.pdf", PDF_BYTES, "scan.pdf"),
        ("error.log", b"Traceback", "error.log"),
        ("export.csv", b"a,b\n1,2\n", "export.csv"),
        ("notes.md", b"# Notes", "notes.md"),
    ],
    ids=lambda value: value[:20] if isinstance(value, str) else "",
)
def test_a_download_is_named_as_what_the_file_is(customer, given, data, offered):
    assert check_upload(upload(given, data)).name == offered
    ticket = ticket_create(customer, files=[upload(given, data)])
    assert Attachment.objects.get(ticket=ticket).name == offered


# Storing


def test_an_accepted_file_is_stored_privately_under_a_random_name(customer, private_files):
    ticket = services.ticket_create(
        requester=customer, subject="Shot", body="see", files=[upload("../shot.png", png_bytes())]
    )
    attachment = Attachment.objects.get(ticket=ticket)
    data = png_bytes()
    assert (attachment.name, attachment.kind, attachment.size) == ("shot.png", "png", len(data))
    assert attachment.sha256 == hashlib.sha256(data).hexdigest()
    assert len(attachment.token) >= 20 and attachment.token not in {"shot.png", "shot"}
    assert attachment.file.name == f"support/{ticket.pk}/{attachment.sha256[:2]}/{attachment.token}"
    assert (private_files / attachment.file.name).read_bytes() == data
    assert attachment.message == Message.objects.get(ticket=ticket)


def test_tokens_differ_for_the_same_file(customer):
    ticket = services.ticket_create(
        requester=customer,
        subject="Twice",
        body="",
        files=[upload("a.png", png_bytes()), upload("b.png", png_bytes())],
    )
    tokens = list(Attachment.objects.filter(ticket=ticket).values_list("token", flat=True))
    assert len(set(tokens)) == 2


def test_one_refused_file_refuses_the_message_and_writes_nothing(customer, private_files):
    ticket = ticket_create(customer)
    with pytest.raises(AttachmentRefused, match=r"^evil\.svg "):
        services.customer_reply(
            ticket=ticket,
            author=customer,
            body="two files",
            files=[upload("ok.png", png_bytes()), upload("evil.svg", SVG)],
        )
    assert Message.objects.filter(ticket=ticket).count() == 1
    assert not Attachment.objects.exists()
    assert files_in(private_files) == []


def test_more_files_than_allowed_are_refused(customer, staff, settings, private_files):
    settings.SUPPORT = {**settings.SUPPORT, "ATTACHMENTS_PER_MESSAGE": 2}
    ticket = ticket_create(customer)
    files = [upload(f"{index}.txt", b"x") for index in range(3)]
    with pytest.raises(AttachmentRefused, match=r"At most 2 attachments per message \(3 were sent\)"):
        staff_answer(ticket, staff, files=files)
    assert files_in(private_files) == []
    assert Ticket.objects.get(pk=ticket.pk).status == "new"


def test_no_file_is_left_when_the_transaction_fails_after_storing(customer, private_files):
    ticket = ticket_create(customer)
    message = Message.objects.get(ticket=ticket)
    checked = [check_upload(upload("a.png", png_bytes())), check_upload(upload("b.txt", b"hello"))]
    with pytest.raises(RuntimeError), attachments.files_removed_on_failure() as stored, transaction.atomic():
        attachments.store_attachments(ticket=ticket, message=message, files=checked, stored=stored)
        assert len(files_in(private_files)) == 2
        raise RuntimeError("something later in the transaction failed")
    assert files_in(private_files) == []
    assert not Attachment.objects.exists()


def test_a_refused_reply_on_a_closed_ticket_leaves_no_file(customer, private_files):
    ticket = ticket_create(customer)
    Ticket.objects.filter(pk=ticket.pk).update(status="closed")
    with pytest.raises(TicketClosed):
        services.customer_reply(ticket=ticket, author=customer, body="x", files=[upload("a.png", png_bytes())])
    assert files_in(private_files) == []


def test_attachments_appear_in_the_message_event(customer):
    ticket = services.ticket_create(
        requester=customer, subject="Shot", body="see", files=[upload("shot.png", png_bytes())]
    )
    attachment = Attachment.objects.get(ticket=ticket)
    event = ticket.events.get(kind="message")
    assert [item["id"] for item in event.data["attachments"]] == [attachment.token]
    assert event.data["attachments"][0]["name"] == "shot.png"


def test_the_files_go_with_their_ticket_once_its_deletion_commits(private_files, django_capture_on_commit_callbacks):
    customer = user_create("files.go@example.com")
    ticket = services.ticket_create(
        requester=customer, subject="Two files", body="See attached.", files=[upload("a.png", png_bytes())]
    )
    services.customer_reply(ticket=ticket, author=customer, body="And one more.", files=[upload("b.pdf", PDF_BYTES)])
    assert len(files_in(private_files)) == 2

    with transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).delete()
        transaction.set_rollback(True)
    assert len(files_in(private_files)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        Ticket.objects.filter(pk=ticket.pk).delete()
    assert files_in(private_files) == []
