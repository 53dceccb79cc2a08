"""The search API: hybrid hits with their citation and scores, limited to what the user may see, inputs bounded."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import caches
from django.urls import reverse
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from apps.knowbase.models import Chunk, Visibility
from apps.knowbase.tests.factories import GARDEN, KETTLE, category_create, document_create
from cfg.settings.cache import THROTTLE_CACHE

pytestmark = pytest.mark.django_db

SEARCH = reverse("knowbase:search")


def search(client: APIClient, query: str, **fields: object) -> dict[str, Any]:
    response = client.post(SEARCH, {"query": query, **fields}, format="json")
    assert response.status_code == 200, response.json()
    body: dict[str, Any] = response.json()
    return body


def test_a_search_needs_a_signed_in_user():
    response = APIClient().post(SEARCH, {"query": "tomatoes"}, format="json")
    assert response.status_code == 401


def test_hits_carry_their_citation_and_three_scores(ada, ada_api):
    garden = document_create(owner=ada, title="Garden notes")
    document_create(owner=ada, text=KETTLE)

    body = search(ada_api, "watering tomatoes")

    assert body["query"] == "watering tomatoes" and body["mode"] == "hybrid"
    best = body["hits"][0]
    citation = best["citation"]
    chunk = Chunk.objects.get(pk=citation["chunk_id"])
    assert citation["document_id"] == garden.pk and citation["document_title"] == "Garden notes"
    assert (citation["position"], citation["heading"], citation["page"]) == (chunk.position, chunk.heading, None)
    assert (citation["char_start"], citation["char_end"]) == (chunk.char_start, chunk.char_end)
    assert "Tomatoes" in citation["heading"] and "watering" in citation["excerpt"]
    assert best["text"] == chunk.text
    assert best["keyword_score"] > 0 and best["vector_score"] > 0
    assert best["keyword_rank"] == 1 and best["vector_rank"] == 1
    assert best["coverage"] == 1.0  # "watering" and "tomatoes" are both in the passage
    assert best["score"] == pytest.approx(2 / (60 + 1))  # first in both lists: reciprocal rank fusion, k = 60
    assert [hit["score"] for hit in body["hits"]] == sorted((hit["score"] for hit in body["hits"]), reverse=True)


def test_the_modes_search_one_list_or_both(ada, ada_api):
    document_create(owner=ada)
    keyword = search(ada_api, "roses", mode="keyword")["hits"]
    assert keyword and all(hit["vector_score"] is None and hit["keyword_score"] > 0 for hit in keyword)
    vector = search(ada_api, "roses", mode="vector")["hits"]
    assert vector and all(hit["keyword_score"] is None and hit["vector_score"] is not None for hit in vector)
    assert search(ada_api, "roses", mode="keyword", limit=1)["hits"][0]["citation"]["heading"].endswith("Roses")


def test_search_sees_own_and_public_documents_staff_see_all(ada, eve, ada_api, eve_api, staff_api):
    private = document_create(owner=ada, title="Ada's garden")
    public = document_create(owner=ada, text=KETTLE, title="Ada's kettle", visibility=Visibility.PUBLIC)

    def documents(client: APIClient, query: str) -> set[int]:
        return {hit["citation"]["document_id"] for hit in search(client, query, mode="keyword")["hits"]}

    assert documents(ada_api, "tomatoes OR descale") == {private.pk, public.pk}
    assert documents(eve_api, "tomatoes OR descale") == {public.pk}
    assert documents(eve_api, "tomatoes") == set()
    # Naming another user's private document filters to nothing rather than revealing it.
    assert search(eve_api, "tomatoes", document_ids=[private.pk])["hits"] == []
    assert documents(staff_api, "tomatoes OR descale") == {private.pk, public.pk}


def test_search_filters_by_documents_and_category(ada, ada_api):
    kitchen = category_create("Kitchen")
    garden = document_create(owner=ada)
    kettle = document_create(owner=ada, text=KETTLE, category=kitchen)
    both = "tomatoes OR descale"

    def documents(**filters: object) -> set[int]:
        return {hit["citation"]["document_id"] for hit in search(ada_api, both, mode="keyword", **filters)["hits"]}

    assert documents() == {garden.pk, kettle.pk}
    assert documents(document_ids=[garden.pk]) == {garden.pk}
    assert documents(category=kitchen.pk) == {kettle.pk}
    assert documents(category=kitchen.pk, document_ids=[garden.pk]) == set()


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({}, "query", "This field is required."),
        ({"query": "   "}, "query", "This field may not be blank."),
        ({"query": "x" * 1001}, "query", "Ensure this field has no more than 1000 characters."),
        ({"query": "q", "limit": 0}, "limit", "Ensure this value is greater than or equal to 1."),
        ({"query": "q", "limit": 51}, "limit", "Ask for at most 50 results."),
        ({"query": "q", "mode": "fuzzy"}, "mode", '"fuzzy" is not a valid choice.'),
        (
            {"query": "q", "document_ids": list(range(1, 102))},
            "document_ids",
            "Ensure this field has no more than 100 elements.",
        ),
        ({"query": "q", "document_ids": ["one"]}, "document_ids.0", "A valid integer is required."),
        (
            {"query": "q", "category": 999_999},
            "category",
            "No category with id 999999: GET /api/knowbase/categories/ lists them.",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(ada_api, payload, field, message):
    response = ada_api.post(SEARCH, payload, format="json")
    assert response.status_code == 400
    assert response.json()[field] == [message]


def test_a_huge_id_list_is_refused_before_its_items_are_read(ada_api):
    # Every item is invalid, yet the answer is about the length alone: the items were not validated one by one.
    response = ada_api.post(SEARCH, {"query": "q", "document_ids": ["x"] * 500}, format="json")
    assert response.status_code == 400
    assert response.json()["document_ids"] == ["Ensure this field has no more than 100 elements."]


def test_a_large_body_is_refused_unread(ada_api):
    response = ada_api.post(SEARCH, {"query": "q", "padding": "x" * 20_000}, format="json")
    assert response.status_code == 413
    assert response.json()["error_code"] == "payload_too_large"


def test_searches_are_throttled_per_user(ada, eve_api, ada_api, settings):
    rates = {**settings.KNOWBASE["THROTTLE_RATES"], "knowbase_search": "2/minute"}
    settings.KNOWBASE = {**settings.KNOWBASE, "THROTTLE_RATES": rates}
    document_create(owner=ada, text=GARDEN)
    for _ in range(2):
        assert ada_api.post(SEARCH, {"query": "roses"}, format="json").status_code == 200
    refused = ada_api.post(SEARCH, {"query": "roses"}, format="json")
    assert refused.status_code == 429
    assert refused.json()["error_code"] == "throttled" and "Retry-After" in refused.headers
    assert eve_api.post(SEARCH, {"query": "roses"}, format="json").status_code == 200  # a user of its own


def test_a_throttle_that_cannot_count_refuses_rather_than_lets_through(ada_api, monkeypatch):
    def down(*args: object, **kwargs: object) -> None:
        raise RedisConnectionError("Redis is down")

    monkeypatch.setattr(caches[THROTTLE_CACHE], "get", down)
    response = ada_api.post(SEARCH, {"query": "roses"}, format="json")
    assert response.status_code == 503
    assert response.json()["error_code"] == "throttle_unavailable"
