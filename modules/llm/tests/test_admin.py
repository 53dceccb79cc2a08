"""The record of calls in the admin: listed, filtered, viewable, never written by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from modules.llm.models import LlmCall

pytestmark = pytest.mark.django_db
CALLS = "/admin/llm/llmcall/"


@pytest.fixture
def root(client: Any) -> Any:
    user = get_user_model().objects.create_superuser(email="root@example.com", password="pw-long-enough-123")
    client.force_login(user)
    return user


def record(**fields: Any) -> LlmCall:
    values = {"provider": "openai (api.openai.com)", "model": "gpt-4o-mini", "operation": "chat"} | fields
    return LlmCall.objects.create(**values)


def test_calls_are_listed_and_filtered_by_operation_provider_and_outcome(client, root):
    record(purpose="support answer", input_tokens=120, output_tokens=30, cost=Decimal("0.0000360"))
    record(operation="embed", model="text-embedding-3-small", purpose="knowbase ingest", batch_size=64)
    record(operation="stream", ok=False, error="openai (api.openai.com) answered 500", purpose="broken")
    page = client.get(CALLS).content.decode()
    assert "support answer" in page and "knowbase ingest" in page and "broken" in page
    only_embeddings = client.get(CALLS, {"operation__exact": "embed"}).content.decode()
    assert "knowbase ingest" in only_embeddings and "support answer" not in only_embeddings
    failures = client.get(CALLS, {"ok__exact": "0"}).content.decode()
    assert "broken" in failures and "support answer" not in failures
    assert "support answer" in client.get(CALLS, {"provider__exact": "openai (api.openai.com)"}).content.decode()


def test_a_call_is_viewable_but_not_added_or_changed(client, root):
    call = record(purpose="support answer")
    assert client.get(f"{CALLS}{call.pk}/change/").status_code == 200
    assert client.get(f"{CALLS}add/").status_code == 403
    client.post(f"{CALLS}{call.pk}/change/", {"purpose": "edited"})
    call.refresh_from_db()
    assert call.purpose == "support answer"


def test_the_record_is_for_staff_only(client):
    user = get_user_model().objects.create_user(email="user@example.com", password="pw-long-enough-123")
    client.force_login(user)
    response = client.get(CALLS)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
