"""Ask: an answer from the knowledge base with numbered citations, as one JSON body or as Server-Sent Events."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.knowbase.answers import answer_data, answer_question, stream_answer
from apps.knowbase.api.common import (
    NOT_SIGNED_IN,
    QUERY_BODY_BYTES,
    QUERY_MAX_CHARS,
    PassageSourceSerializer,
    category_field,
    document_ids_field,
)
from apps.knowbase.throttles import AskThrottle
from modules.api.events import MEDIA_TYPE, EventStreamRenderer, event_stream, wants_events
from modules.api.schema import error_responses

EVENTS = (
    "With `Accept: text/event-stream` the answer streams as Server-Sent Events (`event: <name>` and `data: <JSON>`):"
    " `passages` (the numbered passages given to the model: number, chunk_id, document_id, document_title, page, "
    "heading, score), then `delta` events (`{text}`, pieces of the answer as the model writes them; none for an "
    "extractive answer or no answer), then `answer` (the JSON body of this endpoint, invalid citations removed), "
    "then `done` (`{mode, usage}`). An error after the stream began ends it with an `error` event "
    "(`{detail, error_code}`); an error before it answers its own status with one `error` event."
)


class AskRequestSerializer(serializers.Serializer[Any]):
    question = serializers.CharField(max_length=QUERY_MAX_CHARS)
    document_ids = document_ids_field()
    category = category_field(help_text="Only documents of this category (an id)")


class CitedSerializer(PassageSourceSerializer):
    number = serializers.IntegerField(help_text="The [n] that cites it in the answer")


class UsageSerializer(serializers.Serializer[Any]):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True, coerce_to_string=True)


class AnswerSerializer(serializers.Serializer[Any]):
    answer = serializers.CharField(help_text="With [n] markers that name the citations")
    mode = serializers.ChoiceField(
        choices=("generated", "extractive", "no_answer"),
        help_text="generated: by the chat model; extractive: the passages' best sentences (no chat model "
        "configured); no_answer: nothing relevant was found",
    )
    model = serializers.CharField(help_text="The chat model; empty unless generated")
    citations = CitedSerializer(many=True)
    usage = UsageSerializer(allow_null=True)


class AskView(APIView):
    throttle_classes = (AskThrottle,)
    renderer_classes = (JSONRenderer, EventStreamRenderer)
    max_body_bytes = QUERY_BODY_BYTES

    @extend_schema(
        tags=["knowbase"],
        summary="Ask the knowledge base",
        description=(
            "An answer from the passages that best match the question among the documents the user may see. With a "
            "chat model (LLM__CHAT_PROVIDER) the model answers, citing passages as [1], [2]; a number that names no "
            "passage is removed. Without one the answer is extractive (the passages' best sentences), and with "
            f"nothing relevant it says so (mode no_answer). {EVENTS}"
        ),
        request=AskRequestSerializer,
        responses={
            (200, "application/json"): AnswerSerializer,
            (200, MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description=EVENTS),
            **error_responses(
                {
                    400: "Invalid field: an empty or too long question, too many document ids, no such category",
                    **NOT_SIGNED_IN,
                    413: "The body is too large",
                    429: "Too many questions (KNOWBASE__THROTTLE_ASK)",
                    502: "The chat model's provider failed",
                    503: "The chat model or embedder is unavailable, or the stored embeddings do not fit",
                }
            ),
        },
    )
    def post(self, request: Request) -> HttpResponseBase:
        serializer = AskRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        category = values.get("category")
        question = {
            "user": request.user,
            "question": values["question"],
            "document_ids": values["document_ids"],
            "category_id": category.pk if category is not None else None,
        }
        if wants_events(request):
            events = stream_answer(**question)
            # The search runs for the first event, here: its errors answer with their status, not mid-stream.
            return event_stream(request, next(events), events)
        return Response(answer_data(answer_question(**question)))
