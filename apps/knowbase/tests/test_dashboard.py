"""The knowbase cards on the admin dashboard: documents ready of all, chunks, failures (linked), the embedder."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from apps.knowbase.models import Document, Status
from apps.knowbase.tests.factories import KETTLE, document_create, user_create
from modules.unfold.testing import dashboard_figures, links

pytestmark = pytest.mark.django_db


def test_the_dashboard_counts_documents_chunks_and_failures(client, ada):
    ready = document_create(owner=ada)
    document_create(owner=ada, text=KETTLE, process=False)
    failed = document_create(owner=ada, text="# Broken\n\nText.")
    Document.objects.filter(pk=failed.pk).update(status=Status.FAILED, error="The PDF is encrypted.")
    root = get_user_model().objects.create_superuser(email="root@example.com", password="pw-long-enough-123")
    client.force_login(root)

    page = client.get("/admin/").content.decode()

    figures = dashboard_figures(page)
    assert figures["knowbase_documents"] == "1 / 3"
    assert figures["knowbase_chunks"] == str(ready.chunk_count)  # the ready documents' chunks
    assert figures["knowbase_failed"] == "1"
    assert figures["knowbase_embedder"] == "builtin-hashing-384"
    assert "builtin feature hashing (lexical, not semantic)" in page
    assert "/admin/knowbase/document/?status__exact=failed" in links(page)
    assert "/admin/knowbase/document/search/" in links(page)
    for link in ("/admin/knowbase/document/", "/admin/knowbase/document/search/", "/admin/knowbase/category/"):
        assert link in links(page)  # the sidebar
        assert client.get(link).status_code == 200, link


def test_the_cards_need_the_view_permission(client):
    staff = user_create("staff@example.com", is_staff=True)
    client.force_login(staff)
    assert not {key for key in dashboard_figures(client.get("/admin/").content.decode()) if "knowbase" in key}
    staff.user_permissions.add(Permission.objects.get(codename="view_document"))
    staff = get_user_model().objects.get(pk=staff.pk)  # permissions are cached on the instance
    client.force_login(staff)
    assert "knowbase_documents" in dashboard_figures(client.get("/admin/").content.decode())


def test_a_misconfigured_embedder_costs_its_own_card_only(client, settings):
    settings.LLM = {**settings.LLM, "EMBEDDING_PROVIDER": "nonsense"}
    root = get_user_model().objects.create_superuser(email="root@example.com", password="pw-long-enough-123")
    client.force_login(root)
    page = client.get("/admin/").content.decode()
    figures = dashboard_figures(page)
    assert figures["knowbase_embedder"] == "—" and figures["knowbase_documents"] == "0 / 0"
    assert "unknown LLM__EMBEDDING_PROVIDER" in page
