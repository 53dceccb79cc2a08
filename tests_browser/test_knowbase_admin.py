"""The knowledge base in the admin, in a real browser: upload a Markdown file, see it processed (the immediate task
backend runs on commit), and find it from the search page with its scores."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import FileSystemStorage
from playwright.sync_api import Page

from apps.knowbase.models import Chunk, Document, Status

GUIDE = b"""# Greenhouse guide

## Watering

Water the tomatoes at the base every morning, and keep the leaves dry.

## Ventilation

Open the roof vents when the greenhouse passes twenty-five degrees.
"""


@pytest.fixture(autouse=True)
def _originals_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The live server runs in this process: the field's storage is replaced for it too."""
    storage = FileSystemStorage(location=tmp_path / "private")
    monkeypatch.setattr(Document._meta.get_field("original"), "storage", storage)


def submit(page: Page, button: str) -> None:
    with page.expect_navigation():
        page.locator("#content-main, main, body").first.get_by_role("button", name=button, exact=True).click()


def test_upload_a_markdown_file_then_find_it_from_the_search_page(admin_page: Page) -> None:
    admin_page.goto("/admin/knowbase/document/add/")
    admin_page.set_input_files(
        "input[name=file]", files=[{"name": "greenhouse.md", "mimeType": "text/markdown", "buffer": GUIDE}]
    )
    admin_page.select_option("select[name=visibility]", value="public")
    submit(admin_page, "Save")

    assert urlsplit(admin_page.url).path == "/admin/knowbase/document/"
    document = Document.objects.get()
    assert (document.title, document.status, document.source_kind) == ("Greenhouse guide", Status.READY, "markdown")
    assert document.chunk_count == Chunk.objects.filter(document=document).count() > 0
    row = admin_page.locator("#result_list tbody tr", has_text="Greenhouse guide")
    assert "ready" in row.inner_text().lower()  # the label, as Unfold shows it (upper case)

    admin_page.goto(f"/admin/knowbase/document/{document.pk}/change/")
    assert "Watering" in admin_page.content()

    admin_page.goto("/admin/knowbase/document/search/")
    admin_page.fill("input[name=query]", "water the tomatoes")
    submit(admin_page, "search Search")
    hits = admin_page.locator("[data-chunk]")
    assert hits.count() >= 1
    best = hits.first
    chunk = Chunk.objects.get(pk=int(best.get_attribute("data-chunk") or 0))
    assert chunk.document == document and chunk.heading.endswith("Watering")
    text = best.inner_text()
    assert "Greenhouse guide" in text and "(#1)" in text
