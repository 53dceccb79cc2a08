"""What the leads API's resources share: the staff-only gate, the lead a request names, and the serializers of a
lead and its touches, notes and history."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import NotFound

from apps.leads import selectors
from apps.leads.models import ATTRIBUTION_FIELDS, CONTACT_FIELDS, TRANSITIONS, Lead, LeadNote, LeadTouch, StatusChange
from modules.api.permissions import StaffWithModelPermissions

TAG = "leads"
STAFF_ONLY = {401: "Not signed in", 403: "Not a staff member, or one without the leads permissions"}
NO_LEAD = "No lead with this id."
NO_LEAD_404 = {404: "No such lead"}
STATUS_HELP = "new, contacted, qualified, won or lost"
# A status, an id or a note in JSON: anything larger is refused unread (cfg.body_limit).
STAFF_BODY_BYTES = 16 * 1024


class StaffOnly(StaffWithModelPermissions):
    """Staff members who work on leads, as in the admin: reading takes the view permission, a change (status,
    assignee, note) the change permission. Staff of other teams are refused."""

    message = "Only staff members may use the leads pipeline."
    view_permission = selectors.VIEW_PERMISSION
    change_permission = selectors.CHANGE_PERMISSION
    team = "leads"
    records = "leads"


def lead_or_404(lead_id: int, *, whole: bool = False) -> Lead:
    """The lead, with its touches, notes and history when `whole`; a 404 when there is none."""
    lead = selectors.lead_get(lead_id=lead_id) if whole else selectors.lead_find(lead_id=lead_id)
    if lead is None:
        raise NotFound(NO_LEAD)
    return lead


class PersonSerializer(serializers.Serializer[Any]):
    """A staff member as the pipeline shows them."""

    id = serializers.IntegerField()
    email = serializers.CharField(allow_null=True)
    name = serializers.CharField(source="get_full_name")


class LeadSerializer(serializers.ModelSerializer[Lead]):
    # Plain strings: a choice field named status would give the schema a second enum of that name (tasks has one).
    status = serializers.CharField(read_only=True, help_text=STATUS_HELP)
    assignee = PersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Lead
        fields: tuple[str, ...] = (
            "id",
            "reference",
            "name",
            "email",
            "phone",
            "company",
            "source",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "status",
            "assignee",
            "created_at",
            "updated_at",
            "last_touch_at",
        )
        read_only_fields = fields


class TouchSerializer(serializers.ModelSerializer[LeadTouch]):
    class Meta:
        model = LeadTouch
        fields = (
            "id",
            *CONTACT_FIELDS,
            *ATTRIBUTION_FIELDS,
            "ip",
            "user_agent",
            "consent_text",
            "consent_version",
            "created_at",
        )
        read_only_fields = fields


class NoteSerializer(serializers.ModelSerializer[LeadNote]):
    author = PersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = LeadNote
        fields = ("id", "body", "author", "created_at")
        read_only_fields = fields


class StatusChangeSerializer(serializers.ModelSerializer[StatusChange]):
    from_status = serializers.CharField(read_only=True, help_text=STATUS_HELP)
    to_status = serializers.CharField(read_only=True, help_text=STATUS_HELP)
    changed_by = PersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = StatusChange
        fields = ("id", "from_status", "to_status", "changed_by", "changed_at")
        read_only_fields = fields


class LeadDetailSerializer(LeadSerializer):
    next_statuses = serializers.SerializerMethodField(help_text="The statuses the lead may move to now")
    touches = TouchSerializer(many=True, read_only=True, help_text="Every submission, newest first")
    notes = NoteSerializer(many=True, read_only=True, help_text="Newest first")
    history = StatusChangeSerializer(many=True, read_only=True, help_text="Every status change, newest first")

    class Meta(LeadSerializer.Meta):
        fields = (
            *LeadSerializer.Meta.fields,
            "message",
            "referrer",
            "landing_page",
            "consent_text",
            "consent_version",
            "consent_ip",
            "consent_at",
            "next_statuses",
            "touches",
            "notes",
            "history",
        )
        read_only_fields = fields

    def get_next_statuses(self, lead: Lead) -> list[str]:
        return [str(status) for status in TRANSITIONS.get(lead.status, ())]
