from __future__ import annotations

import math

import pytest

from modules.llm.exceptions import LlmMisconfigured
from modules.llm.models import LlmCall
from modules.llm.openai_provider import OpenAIEmbedder
from modules.llm.providers import get_embedder
from modules.llm.testing import stand_in_settings

pytestmark = pytest.mark.django_db


def test_150_texts_are_sent_in_batches_of_64_one_record_each(api, llm_settings):
    texts = [f"document number {index}" for index in range(150)]
    vectors = get_embedder().embed_documents(texts, purpose="ingest")
    assert [len(request.body["input"]) for request in api.embedding_requests] == [64, 64, 22]
    assert [request.body["input"][0] for request in api.embedding_requests] == [texts[0], texts[64], texts[128]]
    assert len(vectors) == 150
    assert all(len(vector) == 384 for vector in vectors)
    calls = LlmCall.objects.order_by("id")
    assert [(call.operation, call.batch_size, call.input_tokens, call.output_tokens) for call in calls] == [
        ("embed", 64, 192, 0),
        ("embed", 64, 192, 0),
        ("embed", 22, 66, 0),
    ]
    assert {call.purpose for call in calls} == {"ingest"}


def test_the_batch_size_comes_from_the_settings(api, settings):
    settings.LLM = stand_in_settings(api, embedding_batch_size=10)
    get_embedder().embed_documents(["a text"] * 25)
    assert [len(request.body["input"]) for request in api.embedding_requests] == [10, 10, 5]


def test_vectors_come_back_in_order_and_similar_texts_stay_close(api, llm_settings):
    embedder = get_embedder()
    assert isinstance(embedder, OpenAIEmbedder)
    assert (embedder.name, embedder.dimensions, embedder.semantic) == ("openai:text-embedding-3-small", 384, True)
    assert embedder.max_input_words == 1500
    query = embedder.embed_query("reset the password", purpose="search")
    close, far = embedder.embed_documents(["How to reset a password", "Quarterly revenue grew"])
    assert math.sumprod(query, close) > math.sumprod(query, far)
    first, _ = api.embedding_requests
    assert first.body["input"] == ["reset the password"]
    assert first.body["encoding_format"] == "float"


def test_text_embedding_3_models_are_asked_for_the_configured_size(api, settings):
    settings.LLM = stand_in_settings(api, embedding_dimensions=256)
    assert len(get_embedder().embed_query("x")) == 256
    assert api.embedding_requests[0].body["dimensions"] == 256


def test_other_models_are_not_sent_a_size_and_must_match_the_setting(api, settings):
    settings.LLM = stand_in_settings(api, embedding_model="nomic-embed-text", embedding_dimensions=384)
    assert len(get_embedder().embed_query("x")) == 384  # the stand-in's native size
    assert "dimensions" not in api.embedding_requests[0].body

    settings.LLM = stand_in_settings(api, embedding_model="nomic-embed-text", embedding_dimensions=768)
    with pytest.raises(LlmMisconfigured) as caught:
        get_embedder().embed_documents(["x", "y"])
    assert str(caught.value) == (
        "nomic-embed-text returned 384-dimensional vectors but LLM__EMBEDDING_DIMENSIONS is 768: "
        "set it to the model's size"
    )
    failed = LlmCall.objects.filter(ok=False).get()
    assert failed.batch_size == 2
    assert "384-dimensional" in failed.error


def test_an_empty_text_is_sent_as_a_space(api, llm_settings):
    get_embedder().embed_documents(["", "text"])
    assert api.embedding_requests[0].body["input"] == [" ", "text"]


def test_embeddings_may_come_from_another_api_than_chat(api, settings):
    settings.LLM = stand_in_settings(
        api, base_url="http://127.0.0.1:9/v1", embedding_base_url=api.base_url, embedding_api_key="sk-embed-only"
    )
    get_embedder().embed_query("x")
    assert api.embedding_requests[0].headers["authorization"] == "Bearer sk-embed-only"
