"""Approvals, for staff: the tool calls waiting for a decision, and approving or denying one. When a run's last
pending call is decided the run is queued again and resumes with the decisions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.agents import selectors, services
from apps.agents.api.common import NOT_SIGNED_IN, SMALL_BODY_BYTES, STATUS_HELP, TAG, ToolCallSerializer
from apps.agents.exceptions import DecisionNotAllowed
from apps.agents.models import ToolCall
from modules.api.schema import error_responses

NOT_STAFF = {403: "Not staff"}
MAY_NOT_DECIDE = {403: "Not staff with the permission to change tool calls (error_code permission_denied)"}
Handler = Callable[..., Response]
NO_TOOL_CALL = "No tool call with this id."


class PendingApprovalSerializer(serializers.ModelSerializer[ToolCall]):
    arguments = serializers.JSONField(read_only=True, help_text="The arguments the model gave, as JSON")
    run = serializers.IntegerField(source="run_id", read_only=True, help_text="The run's id")
    conversation = serializers.IntegerField(source="run.conversation_id", read_only=True)
    agent = serializers.CharField(source="run.agent.name", read_only=True, help_text="The agent's name")
    owner_email = serializers.EmailField(
        source="run.owner.email", read_only=True, help_text="The user the run acts for"
    )
    requested_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ToolCall
        fields = ("id", "toolset", "tool", "arguments", "run", "conversation", "agent", "owner_email", "requested_at")
        read_only_fields = fields


class DecisionSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why (on a denial the model is told it)",
    )


class DecidedRunSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text=STATUS_HELP)


class DecidedToolCallSerializer(ToolCallSerializer):
    run = DecidedRunSerializer(read_only=True, help_text="The run: queued again (or, run at once, further on)")

    class Meta(ToolCallSerializer.Meta):
        fields = (*ToolCallSerializer.Meta.fields, "run")
        read_only_fields = fields


class MayDecide(BasePermission):
    """Who decides tool calls: staff with the permission to change them (services.may_decide, as in the admin).
    Checked before the call is looked up; anonymous users are told to sign in (401)."""

    message = DecisionNotAllowed.message
    code = DecisionNotAllowed.code

    def has_permission(self, request: Request, view: Any) -> bool:
        return services.may_decide(request.user)


class ApprovalListView(generics.ListAPIView[ToolCall]):
    # The queue is for those who may act on it, as in the admin.
    permission_classes = (MayDecide,)
    serializer_class = PendingApprovalSerializer

    def get_queryset(self) -> QuerySet[ToolCall]:
        return selectors.pending_approvals()

    @extend_schema(
        tags=[TAG],
        summary="List the tool calls waiting for approval",
        description="Staff with the permission to change tool calls: the calls of every user's runs that wait for "
        "a staff decision (tools that change data, enqueue tasks), the oldest first, paginated; each with its "
        "arguments, run, agent and the user it acts for. Decide with POST /api/agents/tool-calls/{id}/approve/ or "
        "/deny/.",
        responses={
            200: PendingApprovalSerializer(many=True),
            **error_responses({**NOT_SIGNED_IN, **NOT_STAFF, 404: "No such page"}),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class DecisionView(APIView):
    permission_classes = (MayDecide,)
    max_body_bytes = SMALL_BODY_BYTES
    approve = True

    def post(self, request: Request, tool_call_id: int) -> Response:
        call = selectors.tool_call_get(tool_call_id=tool_call_id)
        if call is None:
            raise NotFound(NO_TOOL_CALL)
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.tool_call_decide(
            tool_call=call, by=request.user, approve=self.approve, note=serializer.validated_data["note"]
        )
        decided = selectors.tool_call_get(tool_call_id=tool_call_id)
        return Response(DecidedToolCallSerializer(decided).data)


def _decision_schema(verb: str, effect: str) -> Callable[[Handler], Handler]:
    return extend_schema(
        tags=[TAG],
        summary=f"{verb} a tool call",
        description=f"Staff with the permission to change tool calls only: {effect} When it is the run's last "
        "pending call the run is queued again and resumes (without a worker, before this answers). The decision, who "
        "made it and when are recorded.",
        request=DecisionSerializer,
        responses={
            200: DecidedToolCallSerializer,
            **error_responses(
                {
                    400: "Invalid field: a note over 500 characters",
                    **NOT_SIGNED_IN,
                    **MAY_NOT_DECIDE,
                    404: "No such tool call",
                    409: "The call is not waiting for a decision: decided already, or its run ended "
                    "(error_code tool_call_decided)",
                    413: "The body is too large",
                }
            ),
        },
    )


class ApproveView(DecisionView):
    approve = True

    @_decision_schema("Approve", "the tool runs with the arguments the model gave.")
    def post(self, request: Request, tool_call_id: int) -> Response:
        return super().post(request, tool_call_id)


class DenyView(DecisionView):
    approve = False

    @_decision_schema("Deny", "the tool does not run, and the model is told it was denied (with the note).")
    def post(self, request: Request, tool_call_id: int) -> Response:
        return super().post(request, tool_call_id)
