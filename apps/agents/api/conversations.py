"""Conversations: the user's threads with an agent. List and start them, read one with its history, delete it, and
send it a message (which starts a run)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from apps.agents import selectors, services
from apps.agents.api.common import (
    NO_CONVERSATION_404,
    NOT_SIGNED_IN,
    SMALL_BODY_BYTES,
    TAG,
    RunDetailSerializer,
    RunSerializer,
    own_conversation,
    run_body,
)
from apps.agents.models import Conversation
from apps.agents.throttles import MessageThrottle
from modules.api.schema import error_responses

# The most bytes one character of a message can take in a JSON body: JSON written with ASCII escapes (Python's
# json.dumps, JavaScript libraries that escape) writes a character outside the Basic Multilingual Plane (an emoji)
# as a surrogate pair, "\ud83d\ude00": 12 bytes.
JSON_BYTES_PER_CHAR = 12
# Room for the rest of the body: the other fields, whitespace, a client's extra keys.
MESSAGE_BODY_EXTRA_BYTES = 8 * 1024


def message_body_limit() -> int:
    """The largest message body: a message of MAX_PROMPT_CHARS characters however it is escaped, with room for the
    rest (104 KB with the default 8,000 characters). More is refused unread (cfg.body_limit: 413); a body within
    it whose message is too long gets the service's own answer (400 prompt_too_long)."""
    return int(settings.AGENTS["MAX_PROMPT_CHARS"]) * JSON_BYTES_PER_CHAR + MESSAGE_BODY_EXTRA_BYTES


class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    agent = serializers.CharField(source="agent.name", read_only=True, help_text="The agent's name")

    class Meta:
        model = Conversation
        fields: tuple[str, ...] = ("id", "agent", "title", "created_at", "updated_at")
        read_only_fields = fields


class ConversationDetailSerializer(ConversationSerializer):
    runs = RunSerializer(many=True, read_only=True, help_text="Each message and what the agent did, oldest first")

    class Meta(ConversationSerializer.Meta):
        fields = (*ConversationSerializer.Meta.fields, "runs")
        read_only_fields = fields


class ConversationCreateSerializer(serializers.Serializer[Any]):
    agent = serializers.SlugField(max_length=80, help_text="An agent's name, as GET /api/agents/ lists them")
    title = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="Default: the first message's start"
    )


class AgentMessageSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(help_text="The message, at most AGENTS__MAX_PROMPT_CHARS (8000) characters")


def conversation_body(conversation: Conversation) -> dict[str, Any]:
    runs = selectors.conversation_runs(conversation=conversation)
    return {**ConversationSerializer(conversation).data, "runs": RunSerializer(runs, many=True).data}


class ConversationListView(generics.ListAPIView[Conversation]):
    serializer_class = ConversationSerializer
    max_body_bytes = SMALL_BODY_BYTES

    def get_queryset(self) -> QuerySet[Conversation]:
        return selectors.conversation_list(user=self.request.user)

    @extend_schema(
        tags=[TAG],
        summary="List the user's conversations",
        description="The user's own conversations with agents, the latest active first, paginated.",
        responses={200: ConversationSerializer(many=True), **error_responses({**NOT_SIGNED_IN, 404: "No such page"})},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=[TAG],
        summary="Start a conversation",
        description="A new conversation with an agent the user may run (GET /api/agents/ lists them). Send it "
        "messages with POST /api/agents/conversations/{id}/messages/.",
        request=ConversationCreateSerializer,
        responses={
            201: OpenApiResponse(ConversationDetailSerializer, description="Created (no runs yet)"),
            **error_responses(
                {
                    400: "Invalid field: no agent name, a title over 200 characters",
                    **NOT_SIGNED_IN,
                    404: "No such agent, or one the user may not run (error_code agent_not_found)",
                    413: "The body is too large",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = ConversationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        agent = selectors.agent_get_runnable(user=request.user, name=values["agent"])
        conversation = services.conversation_create(owner=request.user, agent=agent, title=values["title"])
        return Response(conversation_body(conversation), status=status.HTTP_201_CREATED)


class ConversationDetailView(APIView):
    @extend_schema(
        tags=[TAG],
        summary="Read a conversation",
        description="The conversation and its history: each run (the message, the answer, status, error, usage) "
        "with its tool calls (arguments, results, status, staff decisions), oldest first.",
        responses={200: ConversationDetailSerializer, **error_responses({**NOT_SIGNED_IN, **NO_CONVERSATION_404})},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        return Response(conversation_body(own_conversation(request, conversation_id)))

    @extend_schema(
        tags=[TAG],
        summary="Delete a conversation",
        description="The conversation with its runs, their tool calls and events. Refused while a run is queued, "
        "running or waiting for approval: cancel it first (POST /api/agents/runs/{id}/cancel/).",
        responses={
            204: OpenApiResponse(description="Deleted"),
            **error_responses(
                {
                    **NOT_SIGNED_IN,
                    **NO_CONVERSATION_404,
                    409: "A run of the conversation is active (error_code conversation_busy)",
                }
            ),
        },
    )
    def delete(self, request: Request, conversation_id: int) -> Response:
        services.conversation_delete(conversation=own_conversation(request, conversation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageView(APIView):
    max_body_bytes = staticmethod(message_body_limit)

    def get_throttles(self) -> list[BaseThrottle]:
        return [*super().get_throttles(), MessageThrottle()]

    @extend_schema(
        tags=[TAG],
        summary="Send a message",
        description=(
            "Starts a run of the conversation's agent on the message, with the conversation so far as its history. "
            "The run is queued (a worker runs it; without one it runs before this answers): poll "
            "GET /api/agents/runs/{id}/ or stream GET /api/agents/runs/{id}/events/. One run at a time per "
            "conversation. Without a chat model (LLM__CHAT_PROVIDER, LLM__BASE_URL) nothing is started: 503."
        ),
        request=AgentMessageSerializer,
        responses={
            202: OpenApiResponse(RunDetailSerializer, description="The run, queued (or already run)"),
            **error_responses(
                {
                    400: "Invalid field: an empty message, or one over AGENTS__MAX_PROMPT_CHARS (prompt_too_long)",
                    **NOT_SIGNED_IN,
                    404: "No such conversation, or another user's; or its agent is no longer open to the user "
                    "(agent_not_found)",
                    409: "The conversation's last run has not finished (conversation_busy)",
                    413: "The body is too large",
                    429: "Too many messages (AGENTS__THROTTLE_MESSAGE)",
                    503: "No chat model is configured (chat_not_configured), or the throttle store is unreachable",
                }
            ),
        },
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation = own_conversation(request, conversation_id)
        serializer = AgentMessageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.message_post(conversation=conversation, text=serializer.validated_data["text"])
        return Response(run_body(request, run), status=status.HTTP_202_ACCEPTED)
