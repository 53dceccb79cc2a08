"""Search: the best passages for a query, with their citation and their vector, keyword and fused scores."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.knowbase.answers import excerpt
from apps.knowbase.api.common import (
    NOT_SIGNED_IN,
    QUERY_BODY_BYTES,
    QUERY_MAX_CHARS,
    PassageSourceSerializer,
    category_field,
    document_ids_field,
)
from apps.knowbase.search import MODES, Hit, chunk_search
from apps.knowbase.throttles import SearchThrottle
from modules.api.schema import error_responses

DEFAULT_LIMIT = 10


class SearchRequestSerializer(serializers.Serializer[Any]):
    query = serializers.CharField(max_length=QUERY_MAX_CHARS, help_text="Words or a question")
    limit = serializers.IntegerField(
        min_value=1, default=DEFAULT_LIMIT, help_text="Hits to return, at most KNOWBASE__SEARCH_MAX_RESULTS (50)"
    )
    mode = serializers.ChoiceField(
        choices=MODES,
        default="hybrid",
        help_text="hybrid: the vector and keyword lists fused by reciprocal rank; vector or keyword: one list",
    )
    document_ids = document_ids_field()
    category = category_field(help_text="Only documents of this category (an id)")

    def validate_limit(self, value: int) -> int:
        most = int(settings.KNOWBASE["SEARCH_MAX_RESULTS"])
        if value > most:
            raise serializers.ValidationError(f"Ask for at most {most} results.")
        return value


class CitationSerializer(PassageSourceSerializer):
    """Where a passage is: enough to link to it and to quote it."""

    position = serializers.IntegerField(help_text="The chunk's place in its document, from 0")


class HitSerializer(serializers.Serializer[Any]):
    citation = CitationSerializer()
    text = serializers.CharField(help_text="The whole passage")
    score = serializers.FloatField(help_text="Fused: the sum of 1 / (RRF_K + rank) over the lists it is in")
    vector_score = serializers.FloatField(allow_null=True, help_text="Cosine similarity; null: not in the list")
    keyword_score = serializers.FloatField(allow_null=True, help_text="ts_rank_cd; null: no keyword match")
    vector_rank = serializers.IntegerField(allow_null=True)
    keyword_rank = serializers.IntegerField(allow_null=True)
    coverage = serializers.FloatField(
        allow_null=True, help_text="The share of the query's words (stemmed, stop words out) the passage holds"
    )


class SearchResultSerializer(serializers.Serializer[Any]):
    query = serializers.CharField()
    mode = serializers.CharField(help_text="The mode searched: hybrid, vector or keyword")  # one enum per name
    hits = HitSerializer(many=True)


def hit_data(hit: Hit) -> dict[str, Any]:
    return {
        "citation": {
            "document_id": hit.document_id,
            "document_title": hit.document_title,
            "chunk_id": hit.chunk_id,
            "position": hit.position,
            "page": hit.page,
            "heading": hit.heading,
            "char_start": hit.char_start,
            "char_end": hit.char_end,
            "excerpt": excerpt(hit.text),
        },
        "text": hit.text,
        "score": hit.score,
        "vector_score": hit.vector_score,
        "keyword_score": hit.keyword_score,
        "vector_rank": hit.vector_rank,
        "keyword_rank": hit.keyword_rank,
        "coverage": hit.coverage,
    }


class SearchView(APIView):
    throttle_classes = (SearchThrottle,)
    max_body_bytes = QUERY_BODY_BYTES

    @extend_schema(
        tags=["knowbase"],
        summary="Search the knowledge base",
        description=(
            "The passages that best match the query among the user's own documents and public ones (staff: all), "
            "by hybrid search: the embedding's nearest neighbours (HNSW, cosine) and the full-text matches "
            "(PostgreSQL websearch syntax: quotes, OR, -word) fused by reciprocal rank. Each hit carries its "
            "citation and its three scores. With the builtin embedder the vector list is lexical, not semantic."
        ),
        request=SearchRequestSerializer,
        responses={
            200: SearchResultSerializer,
            **error_responses(
                {
                    400: "Invalid field: an empty or too long query, a limit out of range, too many document ids",
                    **NOT_SIGNED_IN,
                    413: "The body is too large",
                    429: "Too many searches (KNOWBASE__THROTTLE_SEARCH)",
                    503: "The stored embeddings do not fit the configured embedder, or the embedder is unavailable",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = SearchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        category = values.get("category")
        hits = chunk_search(
            user=request.user,
            query=values["query"],
            limit=values["limit"],
            mode=values["mode"],
            document_ids=values["document_ids"],
            category_id=category.pk if category is not None else None,
        )
        return Response({"query": values["query"], "mode": values["mode"], "hits": [hit_data(hit) for hit in hits]})
