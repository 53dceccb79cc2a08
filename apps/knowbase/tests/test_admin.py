"""The knowbase admin: documents added through the service (a file or pasted text), reprocessed and deleted through
it, a capped preview of their chunks, categories, and the search page with its scores. Staff only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import resolve

from apps.knowbase.admin import CHUNK_PREVIEW, FORM_OVERHEAD_BYTES
from apps.knowbase.models import Category, Chunk, Document, Status
from apps.knowbase.tests.factories import KETTLE, category_create, document_create, user_create
from cfg.body_limit import body_limit

pytestmark = pytest.mark.django_db

DOCUMENTS = "/admin/knowbase/document/"
SEARCH = "/admin/knowbase/document/search/"
CATEGORIES = "/admin/knowbase/category/"


@pytest.fixture
def admin_client(client: Any, db: Any) -> Any:
    root = get_user_model().objects.create_superuser(email="root@example.com", password="pw-long-enough-123")
    client.force_login(root)
    return client


def add(admin_client: Any, **fields: Any) -> Any:
    values = {
        "visibility": "private",
        "owner": "",
        "category": "",
        "title": "",
        "source_name": "",
        "text": "",
        **fields,
    }
    return admin_client.post(f"{DOCUMENTS}add/", values)


def long_markdown(sections: int) -> str:
    return "\n\n".join(f"## Section {number}\n\n" + " ".join(["word"] * 200) for number in range(sections))


def test_every_knowbase_admin_page_answers_staff(admin_client, ada):
    household = category_create()
    document = document_create(owner=ada, category=household)
    for page in [
        DOCUMENTS,
        f"{DOCUMENTS}?status__exact=ready",
        f"{DOCUMENTS}?source_kind__exact=markdown&visibility__exact=private",
        f"{DOCUMENTS}?category__id__exact={household.pk}",
        f"{DOCUMENTS}?q=garden",
        f"{DOCUMENTS}add/",
        f"{DOCUMENTS}{document.pk}/change/",
        f"{DOCUMENTS}{document.pk}/delete/",
        SEARCH,
        f"{SEARCH}?query=tomatoes&mode=keyword&limit=5",
        CATEGORIES,
        f"{CATEGORIES}add/",
        f"{CATEGORIES}{household.pk}/change/",
    ]:
        assert admin_client.get(page).status_code == 200, page
    listing = admin_client.get(DOCUMENTS).content.decode()
    assert "Garden notes" in listing and "Ready" in listing
    assert SEARCH in listing  # the changelist links to the search page


def test_a_non_staff_user_is_sent_to_the_sign_in_page(client, ada):
    client.force_login(ada)
    for page in (DOCUMENTS, SEARCH, CATEGORIES):
        response = client.get(page)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), page


def test_staff_without_the_view_permission_cannot_search(client):
    staff = user_create("staff@example.com", is_staff=True)
    client.force_login(staff)
    assert client.get(SEARCH).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_document"))
    assert client.get(SEARCH).status_code == 200


def test_adding_an_upload_creates_a_ready_document_with_chunks(admin_client, ada, django_capture_on_commit_callbacks):
    household = category_create()
    upload = SimpleUploadedFile("kettle.md", KETTLE.encode(), content_type="text/markdown")
    with django_capture_on_commit_callbacks(execute=True):
        response = add(admin_client, file=upload, owner=ada.pk, visibility="public", category=household.pk)
    assert response.status_code == 302, response.content.decode()
    document = Document.objects.get()
    assert response["Location"] == DOCUMENTS
    assert (document.owner, document.source_name, document.visibility, document.category) == (
        ada,
        "kettle.md",
        "public",
        household,
    )
    assert document.status == Status.READY and document.title == "Kettle manual"
    assert document.chunk_count == Chunk.objects.filter(document=document, is_public=True).count() > 0
    page = admin_client.get(f"{DOCUMENTS}{document.pk}/change/").content.decode()
    assert "Descaling" in page and "Ready" in page


def test_pasted_text_needs_a_title_and_becomes_markdown(admin_client, django_capture_on_commit_callbacks):
    response = add(admin_client, text="# Notes\n\nSome words.")
    assert response.status_code == 200
    assert "Give pasted text a title." in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = add(admin_client, text="# Notes\n\nSome words.", title="Team notes")
    assert response.status_code == 302
    document = Document.objects.get()
    assert (document.owner, document.source_name, document.source_kind) == (None, "Team notes.md", "markdown")
    assert document.status == Status.READY


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "Upload a file or paste text (one of the two)."),
        (
            {"text": "Words", "title": "T", "file": SimpleUploadedFile("a.md", b"# A")},
            "Upload a file or paste text (one of the two).",
        ),
        (
            {"file": SimpleUploadedFile("photo.md", b"\x89PNG\r\n\x1a\n" + bytes(64))},
            "This file is a PNG image. Upload plain text, Markdown, HTML or PDF.",
        ),
    ],
)
def test_the_add_form_shows_the_services_refusals_as_errors(admin_client, fields, message):
    response = add(admin_client, **fields)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Document.objects.exists()


def test_the_add_page_takes_documents_up_to_the_knowbase_upload_limit():
    match = resolve(f"{DOCUMENTS}add/")
    limit = body_limit(match.func, "multipart/form-data; boundary=x", admin=True)
    assert limit == django_settings.KNOWBASE["MAX_UPLOAD_BYTES"] + FORM_OVERHEAD_BYTES
    assert body_limit(resolve(DOCUMENTS).func, "multipart/form-data", admin=True) == django_settings.MAX_UPLOAD_BYTES


def test_the_change_page_edits_through_the_service_and_caps_the_chunks(
    admin_client, ada, django_capture_on_commit_callbacks
):
    document = document_create(owner=ada, text=long_markdown(30), title="Long read")
    assert document.chunk_count > CHUNK_PREVIEW
    page = admin_client.get(f"{DOCUMENTS}{document.pk}/change/").content.decode()
    assert f"{CHUNK_PREVIEW} of {document.chunk_count} chunks shown." in page
    assert f"/api/knowbase/documents/{document.pk}/chunks/" in page
    assert len(re.findall(r"Section \d+", page)) <= CHUNK_PREVIEW * 2

    household = category_create()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"{DOCUMENTS}{document.pk}/change/",
            {"title": "A long read", "visibility": "public", "category": household.pk},
        )
    assert response.status_code == 302, response.content.decode()
    document.refresh_from_db()
    assert (document.title, document.visibility, document.category) == ("A long read", "public", household)
    assert set(Chunk.objects.filter(document=document).values_list("is_public", "category_id")) == {
        (True, household.pk)
    }
    assert document.status == Status.READY and document.attempts == 2  # the new title was embedded again


def test_the_reprocess_action_queues_each_selected_document(admin_client, ada, django_capture_on_commit_callbacks):
    first = document_create(owner=ada)
    second = document_create(owner=ada, text=KETTLE)
    Document.objects.filter(pk=first.pk).update(status=Status.FAILED, error="Broken")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            DOCUMENTS,
            {"action": "reprocess_documents", "_selected_action": [first.pk, second.pk]},
            follow=True,
        )
    assert "2 document(s) queued for processing." in response.content.decode()
    for document in (first, second):
        document.refresh_from_db()
        assert (document.status, document.attempts, document.error) == (Status.READY, 2, "")


def test_deleting_goes_through_the_service_and_removes_the_files(admin_client, ada, django_capture_on_commit_callbacks):
    one = document_create(owner=ada)
    two = document_create(owner=ada, text=KETTLE)
    three = document_create(owner=ada, text="# Third\n\nThree.")
    files = [(document.original.storage, document.original.name or "") for document in (one, two, three)]
    assert all(storage.exists(name) for storage, name in files)
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(f"{DOCUMENTS}{one.pk}/delete/", {"post": "yes"}).status_code == 302
        admin_client.post(
            DOCUMENTS, {"action": "delete_selected", "_selected_action": [two.pk, three.pk], "post": "yes"}
        )
    assert not Document.objects.exists() and not Chunk.objects.exists()
    assert not any(storage.exists(name) for storage, name in files)


def test_the_search_page_shows_hits_with_their_three_scores(admin_client, ada, eve):
    garden = document_create(owner=ada)
    document_create(owner=eve, text=KETTLE)
    page = admin_client.get(SEARCH, {"query": "watering tomatoes", "mode": "hybrid", "limit": 5}).content.decode()
    chunk_ids = [int(value) for value in re.findall(r'data-chunk="(\d+)"', page)]
    assert chunk_ids
    best = Chunk.objects.get(pk=chunk_ids[0])
    assert best.document == garden and "Tomatoes" in best.heading
    assert f"{2 / 61:.4f}" in page  # the best hit's fused score: first in both lists
    assert re.search(r"0\.\d{4} \(#1\)", page)  # its vector and keyword scores with their ranks
    assert f"/admin/knowbase/document/{garden.pk}/change/" in page
    assert "Embedder: builtin feature hashing" in page
    assert 'data-hits="' in page
    keyword = admin_client.get(SEARCH, {"query": "descale", "mode": "keyword"}).content.decode()
    assert len(re.findall(r'data-chunk="', keyword)) == 1  # staff see every user's documents


def test_the_search_page_validates_its_form(admin_client, settings):
    page = admin_client.get(SEARCH, {"query": "", "limit": 500}).content.decode()
    assert "This field is required." in page
    assert "Ask for at most 50 results." in page
    assert "data-hits" not in page


def test_categories_are_added_with_a_slug(admin_client):
    page = admin_client.get(f"{CATEGORIES}add/").content.decode()
    assert "prepopulated" in page or "slug" in page
    response = admin_client.post(f"{CATEGORIES}add/", {"name": "Kitchen appliances", "slug": "kitchen-appliances"})
    assert response.status_code == 302
    assert Category.objects.filter(slug="kitchen-appliances").exists()
