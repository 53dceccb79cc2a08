"""The pipeline for staff: list and filter leads, read one whole, move its status, assign it, add a note."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.leads import selectors, services
from apps.leads.api.common import (
    NO_LEAD_404,
    STAFF_BODY_BYTES,
    STAFF_ONLY,
    STATUS_HELP,
    TAG,
    LeadDetailSerializer,
    LeadSerializer,
    NoteSerializer,
    StaffOnly,
    lead_or_404,
)
from apps.leads.models import MESSAGE_MAX, SOURCE_MAX, Lead, Status
from modules.api.schema import error_responses

UNASSIGNED = "none"


class LeadFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    assignee = serializers.RegexField(
        r"^(none|[1-9][0-9]{0,17})$",
        required=False,
        help_text="A staff member's id, or none for unassigned leads",
        error_messages={"invalid": "Give a user id, or none for unassigned leads."},
    )
    # A field named like Field.source, which DRF's metaclass takes out of the class: no clash at runtime.
    source = serializers.CharField(required=False, max_length=SOURCE_MAX, allow_blank=True)  # type: ignore[assignment]
    created_from = serializers.DateField(required=False, help_text="Created on or after this day (YYYY-MM-DD)")
    created_to = serializers.DateField(required=False, help_text="Created on or before this day (YYYY-MM-DD)")
    q = serializers.CharField(required=False, max_length=200, help_text="Words in the name, email or company")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("created_from"), attrs.get("created_to")
        if start and end and start > end:
            raise serializers.ValidationError({"created_to": ["created_to is before created_from."]})
        return attrs


class StatusInputSerializer(serializers.Serializer[Any]):
    # A plain string checked here: a choice field named status would give the schema a second enum of that name.
    status = serializers.CharField(max_length=20, help_text=f"The new status: {STATUS_HELP}")
    note = serializers.CharField(
        max_length=MESSAGE_MAX, required=False, allow_blank=True, help_text="Why (added as a note)"
    )

    def validate_status(self, value: str) -> str:
        if value not in Status.values:
            raise serializers.ValidationError(f"{value!r} is not a status; the statuses are {STATUS_HELP}.")
        return value


class AssignInputSerializer(serializers.Serializer[Any]):
    assignee = serializers.IntegerField(
        min_value=1, allow_null=True, help_text="An active staff member's id; null to unassign"
    )

    def validate_assignee(self, value: int | None) -> Any:
        if value is None:
            return None
        user = get_user_model().objects.filter(pk=value).first()
        if user is None:
            raise serializers.ValidationError(f"No user has the id {value}.")
        return user


class NoteInputSerializer(serializers.Serializer[Any]):
    body = serializers.CharField(max_length=MESSAGE_MAX)


def detail_body(lead_id: int) -> Any:
    return LeadDetailSerializer(lead_or_404(lead_id, whole=True)).data


class LeadListView(generics.ListAPIView[Lead]):
    permission_classes = (StaffOnly,)
    serializer_class = LeadSerializer

    def get_queryset(self) -> QuerySet[Lead]:
        filters = LeadFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        assignee = values.get("assignee")
        return selectors.lead_list(
            status=values.get("status"),
            assignee_id=int(assignee) if assignee and assignee != UNASSIGNED else None,
            unassigned=assignee == UNASSIGNED,
            source=values.get("source"),
            created_from=values.get("created_from"),
            created_to=values.get("created_to"),
            query=values.get("q"),
        )

    @extend_schema(
        tags=[TAG],
        summary="List leads",
        description="Every lead, newest first, paginated; filtered by status, assignee, source and creation day, and "
        "searched by name, email and company. Staff only.",
        parameters=[LeadFilterSerializer],
        responses={
            200: LeadSerializer(many=True),
            **error_responses({400: "Bad filter", **STAFF_ONLY, 404: "No such page"}),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class LeadDetailView(APIView):
    permission_classes = (StaffOnly,)

    @extend_schema(
        tags=[TAG],
        summary="Read a lead",
        description="The lead with every touch (submission), note and status change. Staff only.",
        responses={200: LeadDetailSerializer, **error_responses({**STAFF_ONLY, **NO_LEAD_404})},
    )
    def get(self, request: Request, lead_id: int) -> Response:
        return Response(detail_body(lead_id))


class LeadStatusView(APIView):
    permission_classes = (StaffOnly,)
    max_body_bytes = STAFF_BODY_BYTES

    @extend_schema(
        tags=[TAG],
        summary="Move a lead along the pipeline",
        description="new → contacted → qualified → won, and lost from any open status; won is final, a lost lead "
        "can be reopened as contacted. The change is recorded with who made it; a note may say why. Staff only.",
        request=StatusInputSerializer,
        responses={
            200: LeadDetailSerializer,
            **error_responses(
                {400: "Not a status", **STAFF_ONLY, **NO_LEAD_404, 409: "Not allowed from the lead's status"}
            ),
        },
    )
    def post(self, request: Request, lead_id: int) -> Response:
        lead = lead_or_404(lead_id)
        serializer = StatusInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        services.lead_set_status(lead=lead, status=values["status"], by=request.user, note=values.get("note", ""))
        return Response(detail_body(lead_id))


class LeadAssignView(APIView):
    permission_classes = (StaffOnly,)
    max_body_bytes = STAFF_BODY_BYTES

    @extend_schema(
        tags=[TAG],
        summary="Assign a lead",
        description="To an active staff member (who is emailed, by a task), or to no one with null. Staff only.",
        request=AssignInputSerializer,
        responses={
            200: LeadDetailSerializer,
            **error_responses({400: "No such user, or not an active staff member", **STAFF_ONLY, **NO_LEAD_404}),
        },
    )
    def post(self, request: Request, lead_id: int) -> Response:
        lead = lead_or_404(lead_id)
        serializer = AssignInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.lead_assign(lead=lead, assignee=serializer.validated_data["assignee"], by=request.user)
        return Response(detail_body(lead_id))


class LeadNotesView(APIView):
    permission_classes = (StaffOnly,)
    max_body_bytes = STAFF_BODY_BYTES

    @extend_schema(
        tags=[TAG],
        summary="Add a note to a lead",
        description="A note by the signed-in staff member. Staff only.",
        request=NoteInputSerializer,
        responses={
            201: OpenApiResponse(NoteSerializer, description="The note added"),
            **error_responses({400: "An empty or too long note", **STAFF_ONLY, **NO_LEAD_404}),
        },
    )
    def post(self, request: Request, lead_id: int) -> Response:
        lead = lead_or_404(lead_id)
        serializer = NoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.lead_note_add(lead=lead, author=request.user, body=serializer.validated_data["body"])
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)
