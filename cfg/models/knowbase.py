"""The knowbase app: ingestion limits, chunking, the vector index and search."""

from __future__ import annotations

from pydantic import Field

from cfg.models.base import ConfigModel, Rate


class KnowbaseConfig(ConfigModel):
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="Largest document upload, in bytes")
    max_text_chars: int = Field(
        default=2_000_000, ge=1000, description="Most characters of text one document may hold after extraction"
    )
    max_pdf_pages: int = Field(default=500, ge=1, description="Most pages read from one PDF")
    chunk_words: int = Field(
        default=170, ge=30, le=2000, description="Words per chunk (MiniLM reads about 200; larger models more)"
    )
    chunk_overlap: float = Field(default=0.15, ge=0, le=0.5, description="Share of a chunk repeated in the next")
    url_fetch_enabled: bool = Field(
        default=False, description="Allow documents fetched by URL (public addresses only, never private ones)"
    )
    url_fetch_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest page fetched by URL")
    url_fetch_timeout: float = Field(default=10, gt=0, le=120, description="Seconds a URL fetch may take in all")
    text_search_config: str = Field(
        default="english",
        pattern=r"^[a-z_]+$",
        description="PostgreSQL text search configuration (english, simple, german, …); change before ingesting",
    )
    hnsw_m: int = Field(default=16, ge=2, le=100, description="HNSW index: links per node (set at migrate time)")
    hnsw_ef_construction: int = Field(
        default=64, ge=4, le=1000, description="HNSW index: build-time candidate list (set at migrate time)"
    )
    ef_search: int = Field(default=100, ge=1, le=1000, description="HNSW candidate list per search")
    candidates: int = Field(
        default=40, ge=1, le=1000, description="Hits taken from each of the vector and keyword lists before fusion"
    )
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal rank fusion constant")
    search_max_results: int = Field(default=50, ge=1, le=200, description="Most hits one search may ask for")
    ask_chunks: int = Field(default=6, ge=1, le=30, description="Chunks given to the answer")
    ask_min_vector_score: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Least cosine similarity for a passage with no keyword match to count as relevant",
    )
    throttle_submit: Rate = Field(default="120/hour", description="Documents sent (created or updated) per user")
    throttle_search: Rate = Field(default="120/minute", description="Searches per user or client IP")
    throttle_ask: Rate = Field(default="20/minute", description="Questions per user or client IP")
