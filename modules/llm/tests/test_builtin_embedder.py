from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cfg.models.llm import LlmConfig
from cfg.settings.llm import llm_section
from modules.llm.hashing import HashingEmbedder
from modules.llm.models import LlmCall
from modules.llm.providers import get_embedder

ROOT = Path(__file__).resolve().parents[3]


def cosine(first: list[float], second: list[float]) -> float:
    return math.sumprod(first, second)


def test_the_default_embedder_is_builtin_feature_hashing_labelled_as_lexical():
    embedder = get_embedder()
    assert isinstance(embedder, HashingEmbedder)
    assert embedder.name == "builtin-hashing-384"
    assert embedder.dimensions == 384
    assert embedder.semantic is False
    assert embedder.label == "builtin feature hashing (lexical, not semantic)"
    assert embedder.max_input_words == 300
    assert get_embedder() is embedder


def test_vectors_have_the_configured_size_and_unit_length(settings):
    settings.LLM = llm_section(LlmConfig(embedding_dimensions=64))
    embedder = get_embedder()
    assert embedder.name == "builtin-hashing-64"
    [vector] = embedder.embed_documents(["Reset the admin password from the command line"])
    assert len(vector) == 64
    assert math.isclose(math.sqrt(cosine(vector, vector)), 1.0)
    assert len(embedder.embed_query("password")) == 64


def test_the_same_text_gives_the_same_vector_in_another_process():
    """A stable hash, not Python's hash(), which is salted per process: stored vectors stay comparable."""
    text = "Invoices are sent on the first day of each month"
    script = (
        "import json, sys; from modules.llm.hashing import HashingEmbedder; "
        "print(json.dumps(HashingEmbedder(384).embed_query(sys.argv[1])))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script, text],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(other.stdout) == HashingEmbedder(384).embed_query(text)
    assert HashingEmbedder(384).embed_documents([text, text]) == [HashingEmbedder(384).embed_query(text)] * 2


def test_texts_that_share_words_score_higher_than_unrelated_ones():
    embedder = HashingEmbedder(384)
    query = embedder.embed_query("How do I reset my password?")
    close, unrelated = embedder.embed_documents(
        ["To reset a forgotten password, open the sign-in page and ask for a code.", "Paris is sunny with light winds."]
    )
    assert cosine(query, close) > 0.25
    assert abs(cosine(query, unrelated)) < 0.1


def test_plural_and_case_do_not_matter_but_meaning_is_not_seen():
    embedder = HashingEmbedder(384)
    assert embedder.embed_query("Invoices") == embedder.embed_query("invoice")
    # Lexical, not semantic: a synonym shares no word, so it scores nothing.
    assert cosine(embedder.embed_query("car"), embedder.embed_query("automobile")) == pytest.approx(0, abs=0.01)


def test_word_order_counts_through_pairs_of_neighbouring_words():
    embedder = HashingEmbedder(384)
    query = embedder.embed_query("cancel subscription")
    assert cosine(query, embedder.embed_query("how to cancel a subscription")) > cosine(
        query, embedder.embed_query("subscription to cancel")
    )


def test_a_text_of_stop_words_still_embeds_and_an_empty_one_is_the_zero_vector():
    embedder = HashingEmbedder(32)
    vector = embedder.embed_query("to be or not to be")
    assert math.isclose(math.sqrt(cosine(vector, vector)), 1.0)
    assert embedder.embed_query("") == [0.0] * 32
    assert embedder.embed_query("  ...  ") == [0.0] * 32


def test_unicode_words_are_tokens():
    embedder = HashingEmbedder(384)
    assert cosine(embedder.embed_query("Größe der Straße"), embedder.embed_query("GRÖSSE straße")) > 0.4
    assert cosine(embedder.embed_query("東京 の 天気"), embedder.embed_query("東京")) > 0.3


@pytest.mark.django_db
def test_the_builtin_embedder_records_no_calls():
    get_embedder().embed_documents(["one", "two"] * 50)
    assert not LlmCall.objects.exists()
