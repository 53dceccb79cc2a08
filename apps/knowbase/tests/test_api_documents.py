"""The documents API: submitting text, files and URLs, reading, changing, reprocessing and deleting, and who may."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from apps.knowbase.models import Chunk, Document, Status, Visibility
from apps.knowbase.tests.factories import GARDEN, KETTLE, category_create, document_create
from apps.knowbase.tests.pdfs import make_pdf

pytestmark = pytest.mark.django_db

DOCUMENTS = reverse("knowbase:documents")


def document_url(document: Document, name: str = "document") -> str:
    return reverse(f"knowbase:{name}", args=[document.pk])


def upload(client: APIClient, content: bytes, name: str, **fields: str) -> Any:
    file = SimpleUploadedFile(name, content, content_type="application/octet-stream")
    return client.post(DOCUMENTS, {"file": file, **fields}, format="multipart")


# Who may.


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "documents"),
        ("post", "documents"),
        ("get", "document"),
        ("patch", "document"),
        ("delete", "document"),
        ("post", "document-reprocess"),
        ("get", "document-chunks"),
        ("get", "categories"),
    ],
)
def test_every_documents_endpoint_needs_a_signed_in_user(ada, method, name):
    document = document_create(owner=ada, process=False)
    path = reverse(f"knowbase:{name}", args=[document.pk] if name.startswith("document-") or name == "document" else [])
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert response.json()["error_code"] == "not_authenticated"


def test_another_users_private_document_is_not_found_anywhere(ada, eve_api):
    private = document_create(owner=ada)
    for method, path in [
        ("get", document_url(private)),
        ("patch", document_url(private)),
        ("delete", document_url(private)),
        ("post", document_url(private, "document-reprocess")),
        ("get", document_url(private, "document-chunks")),
    ]:
        response = getattr(eve_api, method)(path, {"title": "Mine now"}, format="json")
        assert response.status_code == 404, (method, path)
        assert "another user's private document" in response.json()["detail"]
    assert eve_api.get(DOCUMENTS).json()["count"] == 0
    private.refresh_from_db()
    assert private.title == "Garden notes"


def test_a_public_document_of_another_user_is_readable_not_changeable(ada, eve_api):
    public = document_create(owner=ada, visibility=Visibility.PUBLIC)

    body = eve_api.get(document_url(public)).json()
    assert body["id"] == public.pk and body["can_change"] is False
    assert eve_api.get(document_url(public, "document-chunks")).json()["count"] == public.chunk_count
    assert [item["id"] for item in eve_api.get(DOCUMENTS).json()["results"]] == [public.pk]
    for method, path in [
        ("patch", document_url(public)),
        ("delete", document_url(public)),
        ("post", document_url(public, "document-reprocess")),
    ]:
        response = getattr(eve_api, method)(path, {"title": "Mine now"}, format="json")
        assert response.status_code == 403, (method, path)
        assert response.json()["error_code"] == "permission_denied"
    assert Document.objects.filter(pk=public.pk, title="Garden notes").exists()


def test_staff_see_change_and_delete_every_document(ada, eve, staff_api):
    mine = document_create(owner=ada)
    theirs = document_create(owner=eve, text=KETTLE)

    listed = staff_api.get(DOCUMENTS).json()
    assert {item["id"] for item in listed["results"]} == {mine.pk, theirs.pk}
    assert staff_api.get(document_url(mine)).json()["can_change"] is True
    assert staff_api.get(document_url(mine, "document-chunks")).json()["count"] == mine.chunk_count
    assert staff_api.post(document_url(mine, "document-reprocess")).status_code == 202
    response = staff_api.patch(document_url(mine), {"visibility": "public"}, format="json")
    assert response.status_code == 200 and response.json()["visibility"] == "public"
    assert staff_api.delete(document_url(theirs)).status_code == 204
    assert not Document.objects.filter(pk=theirs.pk).exists()


# Listing.


def test_the_list_filters_by_status_category_owner_and_title(ada, eve, ada_api):
    household = category_create("Household")
    garden = document_create(owner=ada, title="Garden notes", category=household)
    kettle = document_create(owner=ada, text=KETTLE, title="Kettle manual")
    pending = document_create(owner=ada, text="# Draft\n\nNot processed yet.", title="Draft", process=False)
    public = document_create(owner=eve, text=KETTLE, title="Eve's kettle", visibility=Visibility.PUBLIC)
    document_create(owner=eve, text=GARDEN, title="Eve's private garden")

    def ids(query: str) -> set[int]:
        response = ada_api.get(f"{DOCUMENTS}?{query}")
        assert response.status_code == 200, response.json()
        return {item["id"] for item in response.json()["results"]}

    assert ids("") == {garden.pk, kettle.pk, pending.pk, public.pk}
    assert ids("status=pending") == {pending.pk}
    assert ids(f"category={household.pk}") == {garden.pk}
    assert ids("mine=true") == {garden.pk, kettle.pk, pending.pk}
    assert ids("q=KETTLE") == {kettle.pk, public.pk}
    assert ids("q=kettle&mine=true") == {kettle.pk}
    body = ada_api.get(f"{DOCUMENTS}?q=Garden").json()
    [item] = body["results"]
    assert item["category"] == {"id": household.pk, "name": "Household", "slug": "household"}
    assert item["status"] == "ready" and item["chunk_count"] == garden.chunk_count > 0
    assert item["owner"] == ada.pk and item["can_change"] is True


def test_bad_filters_name_the_field(ada_api):
    response = ada_api.get(f"{DOCUMENTS}?status=done")
    assert response.status_code == 400
    assert response.json()["status"] == ['"done" is not a valid choice.']
    response = ada_api.get(f"{DOCUMENTS}?category=abc")
    assert response.status_code == 400 and "category" in response.json()


def test_the_list_runs_the_same_queries_whatever_the_page_size(ada, eve, ada_api, django_assert_num_queries):
    household = category_create()
    for number in range(3):
        document_create(owner=ada, title=f"Doc {number}", category=household, process=False)
    ada_api.get(DOCUMENTS)  # warm up: the first request of a process loads what it caches
    with django_assert_num_queries(3):  # the user (JWT), the count, the page with categories
        assert ada_api.get(f"{DOCUMENTS}?page_size=3").json()["count"] == 3
    for number in range(22):
        document_create(owner=eve, title=f"Public {number}", visibility=Visibility.PUBLIC, process=False)
    with django_assert_num_queries(3):
        body = ada_api.get(f"{DOCUMENTS}?page_size=25").json()
    assert body["count"] == 25 and len(body["results"]) == 25


def test_chunks_are_paged_in_order_with_a_fixed_number_of_queries(ada, ada_api, django_assert_num_queries):
    document = document_create(owner=ada, text=GARDEN + "\n\n" + KETTLE)
    path = document_url(document, "document-chunks")
    ada_api.get(path)
    with django_assert_num_queries(4):  # the user, the document, the count, the page
        body = ada_api.get(f"{path}?page_size=2").json()
    assert body["count"] == document.chunk_count == Chunk.objects.filter(document=document).count()
    first = body["results"][0]
    assert set(first) == {"id", "position", "text", "heading", "page", "char_start", "char_end", "token_count"}
    assert [item["position"] for item in body["results"]] == [0, 1]
    assert first["heading"].startswith("Garden notes") and first["char_end"] > first["char_start"]
    with django_assert_num_queries(4):
        assert len(ada_api.get(f"{path}?page_size=50").json()["results"]) == document.chunk_count


def test_categories_are_listed_by_name_in_a_fixed_number_of_queries(ada_api, django_assert_num_queries):
    category_create("Kitchen")
    category_create("Garden")
    path = reverse("knowbase:categories")
    ada_api.get(path)
    with django_assert_num_queries(3):  # the user, the count, the page
        body = ada_api.get(path).json()
    assert [item["name"] for item in body["results"]] == ["Garden", "Kitchen"]
    assert set(body["results"][0]) == {"id", "name", "slug"}
    for number in range(30):
        category_create(f"Topic {number}")
    with django_assert_num_queries(3):
        assert len(ada_api.get(f"{path}?page_size=40").json()["results"]) == 32
    response = ada_api.get(f"{path}?page=99")
    assert response.status_code == 404 and response.json()["detail"] == "Invalid page."


# Submitting.


def test_text_becomes_a_markdown_document_processed_after_commit(ada, ada_api, django_capture_on_commit_callbacks):
    household = category_create()
    with django_capture_on_commit_callbacks(execute=True):
        response = ada_api.post(
            DOCUMENTS,
            {"title": "Garden notes", "text": GARDEN, "visibility": "public", "category": household.pk},
            format="json",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["outcome"] == "created"
    document = Document.objects.get(pk=body["document"]["id"])
    assert (document.owner, document.source_name, document.source_kind) == (ada, "Garden notes.md", "markdown")
    assert document.visibility == "public" and document.category == household
    assert document.status == Status.READY and document.chunk_count > 0
    assert ada_api.get(document_url(document)).json()["status"] == "ready"

    again = ada_api.post(DOCUMENTS, {"title": "Garden notes", "text": GARDEN, "visibility": "public"}, format="json")
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    changed = ada_api.post(DOCUMENTS, {"title": "Garden notes", "text": GARDEN + "\nMore.\n"}, format="json")
    assert changed.status_code == 200 and changed.json()["outcome"] == "updated"
    assert Document.objects.filter(owner=ada).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_answer_shows_the_document_as_the_immediate_task_left_it(ada, ada_api):
    """With real commits the task runs (immediate backend) before the view reads the document again."""
    response = ada_api.post(DOCUMENTS, {"title": "Kettle", "text": KETTLE}, format="json")
    assert response.status_code == 201
    document = response.json()["document"]
    assert document["status"] == "ready"
    assert document["chunk_count"] == document["chunks_embedded"] > 0
    assert document["embedder"].startswith("builtin")


def test_a_file_upload_is_read_by_its_content(ada, ada_api, django_capture_on_commit_callbacks):
    pdf = make_pdf(["Tomatoes need full sun.", "Roses are pruned in winter."], title="Garden PDF")
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(ada_api, pdf, "garden.txt", visibility="private")
    assert response.status_code == 201, response.json()
    document = Document.objects.get(pk=response.json()["document"]["id"])
    assert document.source_kind == "pdf"  # the content decides, not the name
    assert document.source_name == "garden.txt" and document.status == Status.READY
    assert document.page_count == 2
    assert document.original.name and document.original.storage.exists(document.original.name)


def test_an_unsupported_file_is_a_415_that_says_why(ada_api):
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    response = upload(ada_api, png, "notes.md")
    assert response.status_code == 415
    body = response.json()
    assert body["error_code"] == "unsupported_document"
    assert body["file"] == ["This file is a PNG image. Upload plain text, Markdown, HTML or PDF."]
    assert not Document.objects.exists()


def test_a_file_over_the_upload_limit_is_a_413(ada_api, settings):
    settings.KNOWBASE = {**settings.KNOWBASE, "MAX_UPLOAD_BYTES": 2048}
    response = upload(ada_api, b"word " * 1000, "big.txt")
    assert response.status_code == 413
    assert response.json()["file"] == ["The file is 5000 bytes; the limit is 2048 bytes."]
    # A body far past the limit is refused before it is read (cfg.body_limit: the view's max_body_bytes).
    response = upload(ada_api, b"word " * 40_000, "huge.txt")
    assert response.status_code == 413
    assert response.json()["error_code"] == "payload_too_large"
    assert not Document.objects.exists()


def test_multipart_is_taken_by_the_documents_view_only(ada_api):
    file = SimpleUploadedFile("notes.md", b"# Notes", content_type="text/markdown")
    response = ada_api.post(reverse("knowbase:search"), {"file": file, "query": "notes"}, format="multipart")
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"text": "Some text"}, "title", "This field is required."),
        ({"title": "Empty", "text": "   \n"}, "text", "The text is empty."),
        ({"title": "x" * 301, "text": "Text"}, "title", "Ensure this field has no more than 300 characters."),
        ({"title": "T", "text": "Text", "visibility": "everyone"}, "visibility", '"everyone" is not a valid choice.'),
        (
            {"title": "T", "text": "Text", "category": 999_999},
            "category",
            "No category with id 999999: GET /api/knowbase/categories/ lists them.",
        ),
        ({"url": "not a url"}, "url", "Enter a valid URL."),
    ],
)
def test_bad_input_is_a_400_naming_the_field(ada_api, payload, field, message):
    response = ada_api.post(DOCUMENTS, payload, format="json")
    assert response.status_code == 400
    assert response.json()[field] == [message]
    assert response.json()["detail"] == f"{field}: {message}"


@pytest.mark.parametrize(
    ("payload", "given"),
    [({"title": "T"}, "none"), ({"title": "T", "text": "x", "url": "https://example.com/"}, "text and url")],
)
def test_a_submission_is_exactly_one_shape(ada_api, payload, given):
    response = ada_api.post(DOCUMENTS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Send the document as exactly one of: text (JSON, with a title), file (multipart/form-data) or url (JSON); "
        f"this request has {given}."
    )


def test_urls_are_refused_while_fetching_is_off(ada_api):
    response = ada_api.post(DOCUMENTS, {"url": "https://example.com/page"}, format="json")
    assert response.status_code == 403
    assert response.json()["error_code"] == "url_fetch_disabled"
    assert "switched off" in response.json()["url"][0]


def test_a_url_to_a_private_address_is_accepted_then_fails_without_a_request(
    ada_api, settings, django_capture_on_commit_callbacks
):
    settings.KNOWBASE = {**settings.KNOWBASE, "URL_FETCH_ENABLED": True}
    with django_capture_on_commit_callbacks(execute=True):
        response = ada_api.post(DOCUMENTS, {"url": "http://127.0.0.1:9/secret", "title": "Local"}, format="json")
    assert response.status_code == 201, response.json()
    document = Document.objects.get(pk=response.json()["document"]["id"])
    assert (document.source_url, document.title) == ("http://127.0.0.1:9/secret", "Local")
    assert document.status == Status.FAILED
    assert document.error
    assert not document.original


# Changing, reprocessing, deleting.


def test_the_owner_changes_title_visibility_and_category(ada, ada_api, django_capture_on_commit_callbacks):
    document = document_create(owner=ada)
    household = category_create()
    with django_capture_on_commit_callbacks(execute=True):
        response = ada_api.patch(
            document_url(document),
            {"title": "My garden", "visibility": "public", "category": household.pk},
            format="json",
        )
    assert response.status_code == 200, response.json()
    assert response.json()["title"] == "My garden"
    document.refresh_from_db()
    assert (document.title, document.visibility, document.category) == ("My garden", "public", household)
    chunks = Chunk.objects.filter(document=document)
    assert chunks.exists()
    assert set(chunks.values_list("is_public", "category_id")) == {(True, household.pk)}
    assert document.status == Status.READY  # the new title was embedded again
    response = ada_api.patch(document_url(document), {"category": None}, format="json")
    assert response.status_code == 200 and response.json()["category"] is None


def test_a_patch_refuses_fields_it_cannot_change(ada, ada_api):
    document = document_create(owner=ada)
    response = ada_api.patch(document_url(document), {"source_name": "other.md", "status": "ready"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "These fields cannot be changed: source_name, status. Changeable: title, visibility, category."
    )
    response = ada_api.patch(document_url(document), {"title": ""}, format="json")
    assert response.status_code == 400 and response.json()["title"] == ["This field may not be blank."]


def test_reprocess_queues_the_document_again(ada, ada_api, django_capture_on_commit_callbacks):
    document = document_create(owner=ada)
    Document.objects.filter(pk=document.pk).update(status=Status.FAILED, error="Broken")
    with django_capture_on_commit_callbacks(execute=True):
        response = ada_api.post(document_url(document, "document-reprocess"))
    assert response.status_code == 202
    assert response.json()["status"] == "pending"  # as the answer left it; the task ran on commit
    document.refresh_from_db()
    assert (document.status, document.error, document.attempts) == (Status.READY, "", 2)
    assert document.chunks_embedded == 0  # nothing changed: every embedding was kept


def test_reprocessing_a_document_being_processed_is_a_conflict(ada, ada_api):
    document = document_create(owner=ada, process=False)
    from django.utils import timezone

    Document.objects.filter(pk=document.pk).update(status=Status.PROCESSING, processing_started_at=timezone.now())
    response = ada_api.post(document_url(document, "document-reprocess"))
    assert response.status_code == 409
    assert response.json()["error_code"] == "document_busy"


def test_delete_removes_the_document_its_chunks_and_its_file(ada, ada_api, django_capture_on_commit_callbacks):
    document = document_create(owner=ada)
    storage, name = document.original.storage, document.original.name or ""
    assert name and storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        assert ada_api.delete(document_url(document)).status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    assert not storage.exists(name)
    assert ada_api.get(document_url(document)).status_code == 404


# The schema.

OPERATIONS = {
    "/api/knowbase/documents/": {"get": {"400", "401"}, "post": {"201", "200", "400", "401", "413", "415"}},
    "/api/knowbase/documents/{document_id}/": {
        "get": {"200", "401", "404"},
        "patch": {"200", "400", "401", "403", "404"},
        "delete": {"204", "401", "403", "404"},
    },
    "/api/knowbase/documents/{document_id}/reprocess/": {"post": {"202", "401", "403", "404", "409"}},
    "/api/knowbase/documents/{document_id}/chunks/": {"get": {"200", "401", "404"}},
    "/api/knowbase/categories/": {"get": {"200", "401"}},
    "/api/knowbase/search/": {"post": {"200", "400", "401", "413", "429"}},
    "/api/knowbase/ask/": {"post": {"200", "400", "401", "413", "429", "503"}},
}


def test_every_operation_is_in_the_schema_described_with_its_errors(client):
    response = client.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    for path, methods in OPERATIONS.items():
        for method, codes in methods.items():
            operation = schema["paths"][path][method]
            assert operation["description"] and operation["summary"], (path, method)
            assert codes <= set(operation["responses"]), (path, method, set(operation["responses"]))
            for code, answer in operation["responses"].items():
                if code[0] in "45":
                    assert answer["description"], (path, method, code)
                    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    upload_body = schema["paths"]["/api/knowbase/documents/"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} == set(upload_body)
    ask = schema["paths"]["/api/knowbase/ask/"]["post"]["responses"]["200"]["content"]
    assert {"application/json", "text/event-stream"} == set(ask)


def test_two_files_in_one_request_are_refused_not_one_dropped(ada_api):
    files = [SimpleUploadedFile(f"{name}.md", GARDEN.encode()) for name in ("one", "two")]
    response = ada_api.post(DOCUMENTS, {"file": files}, format="multipart")
    assert response.status_code == 400
    assert response.json()["file"] == ["Send one file per request."]
    assert not Document.objects.exists()


def test_a_multipart_upload_without_a_length_is_a_411(ada_api):
    file = SimpleUploadedFile("notes.md", GARDEN.encode())
    response = ada_api.post(DOCUMENTS, {"file": file}, format="multipart", CONTENT_LENGTH="")
    assert response.status_code == 411
    assert "Content-Length" in response.json()["detail"]


def test_sending_documents_is_throttled_per_user_but_reading_them_is_not(ada_api, eve_api, settings):
    rates = {**settings.KNOWBASE["THROTTLE_RATES"], "knowbase_submit": "2/hour"}
    settings.KNOWBASE = {**settings.KNOWBASE, "THROTTLE_RATES": rates}
    for number in range(2):
        assert ada_api.post(DOCUMENTS, {"title": f"T{number}", "text": GARDEN}, format="json").status_code == 201
    refused = ada_api.post(DOCUMENTS, {"title": "T3", "text": GARDEN}, format="json")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert ada_api.get(DOCUMENTS).status_code == 200
    assert eve_api.post(DOCUMENTS, {"title": "T", "text": KETTLE}, format="json").status_code == 201
