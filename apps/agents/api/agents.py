"""Agents: the ones the user may run (staff define them in the admin)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.agents import selectors
from apps.agents.api.common import NOT_SIGNED_IN, TAG
from apps.agents.models import AgentDefinition
from apps.agents.toolsets import available_toolsets
from modules.api.schema import error_responses


class AgentToolsetSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()


class AgentSerializer(serializers.ModelSerializer[AgentDefinition]):
    toolsets = serializers.SerializerMethodField(help_text="What the agent can do: its tools, by toolset")
    structured = serializers.SerializerMethodField(
        help_text="True: it answers with an object that follows output_schema; false: with text"
    )
    output_schema = serializers.JSONField(read_only=True, allow_null=True, help_text="A JSON schema, or null")

    class Meta:
        model = AgentDefinition
        fields = ("name", "description", "toolsets", "structured", "output_schema")
        read_only_fields = fields

    @extend_schema_field(AgentToolsetSerializer(many=True))
    def get_toolsets(self, agent: AgentDefinition) -> list[dict[str, str]]:
        # A toolset whose app was switched off since the agent was defined: the agent runs without it.
        specs = available_toolsets()
        return [
            {"name": spec.name, "title": spec.label, "description": spec.description}
            for spec in (specs.get(name) for name in agent.toolsets)
            if spec is not None
        ]

    def get_structured(self, agent: AgentDefinition) -> bool:
        return agent.output_schema is not None


class AgentListView(generics.ListAPIView[AgentDefinition]):
    serializer_class = AgentSerializer

    def get_queryset(self) -> QuerySet[AgentDefinition]:
        return selectors.agents_runnable_by(self.request.user)

    @extend_schema(
        tags=[TAG],
        summary="List the agents the user may run",
        description="The active agents open to the user (to all users, to a group of theirs; staff: every active "
        "one), by name, paginated. Start a conversation with one by its name.",
        responses={200: AgentSerializer(many=True), **error_responses({**NOT_SIGNED_IN, 404: "No such page"})},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
