from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig


def knowbase_settings(config: CoreConfig) -> dict[str, Any]:
    """KNOWBASE: the limits, chunking, index and search values read by apps.knowbase."""
    knowbase = config.knowbase
    return {
        "KNOWBASE": {
            "EMBEDDING_DIMENSIONS": config.llm.embedding_dimensions,
            "MAX_UPLOAD_BYTES": knowbase.max_upload_bytes,
            "MAX_TEXT_CHARS": knowbase.max_text_chars,
            "MAX_PDF_PAGES": knowbase.max_pdf_pages,
            "CHUNK_WORDS": knowbase.chunk_words,
            "CHUNK_OVERLAP": knowbase.chunk_overlap,
            "URL_FETCH_ENABLED": knowbase.url_fetch_enabled,
            "URL_FETCH_MAX_BYTES": knowbase.url_fetch_max_bytes,
            "URL_FETCH_TIMEOUT": knowbase.url_fetch_timeout,
            "TEXT_SEARCH_CONFIG": knowbase.text_search_config,
            "HNSW_M": knowbase.hnsw_m,
            "HNSW_EF_CONSTRUCTION": knowbase.hnsw_ef_construction,
            "EF_SEARCH": knowbase.ef_search,
            "CANDIDATES": knowbase.candidates,
            "RRF_K": knowbase.rrf_k,
            "SEARCH_MAX_RESULTS": knowbase.search_max_results,
            "ASK_CHUNKS": knowbase.ask_chunks,
            "ASK_MIN_VECTOR_SCORE": knowbase.ask_min_vector_score,
            "THROTTLE_RATES": {
                "knowbase_submit": knowbase.throttle_submit,
                "knowbase_search": knowbase.throttle_search,
                "knowbase_ask": knowbase.throttle_ask,
            },
        }
    }
