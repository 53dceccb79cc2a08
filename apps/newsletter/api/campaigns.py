"""Staff-only API of campaigns: list and create, read (with statistics), change and delete drafts, preview, test
send, schedule, send now, pause, resume and cancel. A request the campaign's status does not allow is a 409 with a
message; a template that does not compile or render is a 400 naming the field."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.newsletter.models import Campaign, CampaignStatus, MailingList, Subscriber
from apps.newsletter.selectors import campaigns as selectors
from apps.newsletter.services import campaigns as services
from modules.api.schema import error_responses

STAFF = {401: "Not signed in", 403: "Not staff, or without the campaign permission this needs"}
NO_CAMPAIGN = "No campaign with this id."
TAG = "newsletter campaigns"


class CampaignPermission(BasePermission):
    """Staff with the model permission the admin's campaign pages ask for: view_campaign to read, add_campaign to
    create, delete_campaign to delete, change_campaign for every other change (editing, test sends, sending, pausing,
    cancelling). is_staff alone is not enough: a support agent who may only look at users must not mail a list."""

    message = "Only staff with the newsletter campaign permission this needs ({permission}) may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            self.message = "Only staff may manage newsletter campaigns."
            return False
        permission = f"newsletter.{self.action(request, view)}_campaign"
        self.message = type(self).message.format(permission=permission)
        return bool(user.has_perm(permission))

    @staticmethod
    def action(request: Request, view: Any) -> str:
        if request.method in SAFE_METHODS:
            return "view"
        if request.method == "DELETE":
            return "delete"
        if request.method == "POST" and isinstance(view, CampaignListView):
            return "add"
        return "change"


class CampaignStatsSerializer(serializers.Serializer[Any]):
    recipients = serializers.IntegerField(help_text="Listed when sending started (every status)")
    pending = serializers.IntegerField(help_text="Not sent yet (waiting, or being sent)")
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    suppressed = serializers.IntegerField(help_text="Not sent: the address was suppressed meanwhile")
    skipped = serializers.IntegerField(help_text="Not sent: unsubscribed meanwhile, or the campaign was cancelled")
    opens = serializers.IntegerField(help_text="Recipients who opened it (images shown)")
    opens_total = serializers.IntegerField()
    unique_clicks = serializers.IntegerField(help_text="Distinct recipient and link")
    clickers = serializers.IntegerField(help_text="Recipients who clicked a link")
    clicks_total = serializers.IntegerField()
    unsubscribes = serializers.IntegerField(help_text="Unsubscribed by this campaign's link")
    open_rate = serializers.FloatField(allow_null=True, help_text="opens / sent")
    click_rate = serializers.FloatField(allow_null=True, help_text="clickers / sent")


class CampaignSerializer(serializers.ModelSerializer[Campaign]):
    mailing_list_name = serializers.CharField(source="mailing_list.name", read_only=True)
    created_by = serializers.CharField(source="created_by.email", read_only=True, allow_null=True, default=None)
    status = serializers.CharField(read_only=True, help_text="draft, scheduled, sending, paused, sent or cancelled")
    stats = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = (
            "id",
            "name",
            "mailing_list",
            "mailing_list_name",
            "subject",
            "html_body",
            "text_body",
            "from_email",
            "track_opens",
            "track_clicks",
            "status",
            "scheduled_at",
            "created_by",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
            "stats",
        )
        read_only_fields = fields

    @extend_schema(responses=CampaignStatsSerializer)
    def get_stats(self, campaign: Campaign) -> dict[str, Any]:
        return selectors.stats_of(campaign)


LIST_FIELDS: tuple[str, ...] = tuple(
    name for name in CampaignSerializer.Meta.fields if name not in ("html_body", "text_body")
)


class CampaignListSerializer(CampaignSerializer):
    class Meta(CampaignSerializer.Meta):
        fields = LIST_FIELDS  # type: ignore[assignment]  # fewer fields than the detail's (no bodies)
        read_only_fields = LIST_FIELDS  # type: ignore[assignment]


def from_email_valid(value: str) -> None:
    if not value.strip():
        return
    try:
        validate_email(parseaddr(value.strip())[1])
    except DjangoValidationError:
        raise serializers.ValidationError(
            'Give an email address, optionally with a name: news@example.com or "Acme News <news@example.com>".'
        ) from None


class CampaignWriteSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    mailing_list = serializers.PrimaryKeyRelatedField(
        queryset=MailingList.objects.all(),
        error_messages={"does_not_exist": "No mailing list with id {pk_value}."},
    )
    subject = serializers.CharField(max_length=500, help_text="A Django template")
    html_body = serializers.CharField(trim_whitespace=False, help_text="A Django template of the HTML part")
    text_body = serializers.CharField(trim_whitespace=False, help_text="A Django template of the plain-text part")
    from_email = serializers.CharField(
        max_length=254, required=False, allow_blank=True, default="", validators=[from_email_valid]
    )
    track_opens = serializers.BooleanField(required=False, default=True)
    track_clicks = serializers.BooleanField(required=False, default=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown or read-only fields: {', '.join(unknown)}. Writable: {', '.join(self.fields)}."
            )
        return attrs


class PreviewQuerySerializer(serializers.Serializer[Any]):
    subscriber = serializers.PrimaryKeyRelatedField(
        queryset=Subscriber.objects.all(),
        required=False,
        help_text="Render for this subscriber (default: a sample one)",
        error_messages={"does_not_exist": "No subscriber with id {pk_value}."},
    )


class TestSendSerializer(PreviewQuerySerializer):
    email = serializers.EmailField(help_text="Where the test goes")


class ScheduleSerializer(serializers.Serializer[Any]):
    scheduled_at = serializers.DateTimeField(help_text="When to start sending; in the future")


class PreviewSerializer(serializers.Serializer[Any]):
    to = serializers.CharField()
    subject = serializers.CharField()
    html = serializers.CharField()
    text = serializers.CharField()
    headers = serializers.DictField(child=serializers.CharField())


class StatusFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=CampaignStatus.choices, required=False)


def campaign_or_404(campaign_id: int) -> Campaign:
    campaign = selectors.campaign_get(campaign_id=campaign_id)
    if campaign is None:
        raise NotFound(NO_CAMPAIGN)
    return campaign


def campaign_body(campaign_id: int) -> Any:
    return CampaignSerializer(campaign_or_404(campaign_id)).data


class CampaignListView(generics.ListAPIView[Campaign]):
    permission_classes = [CampaignPermission]
    serializer_class = CampaignListSerializer

    def get_queryset(self) -> QuerySet[Campaign]:
        filters = StatusFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.campaign_list(status=filters.validated_data.get("status"))

    @extend_schema(
        tags=[TAG],
        summary="List campaigns",
        description="Newest first, each with its statistics (without the bodies), paginated.",
        parameters=[StatusFilterSerializer],
        responses={200: CampaignListSerializer(many=True), **error_responses({400: "Bad filter", **STAFF})},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=[TAG],
        summary="Create a draft campaign",
        description="Subject, HTML and text bodies are Django templates; they see subscriber.name, subscriber.email, "
        "campaign.name, unsubscribe_url, preferences_url and site_url. A template error is a 400 naming the field.",
        request=CampaignWriteSerializer,
        responses={201: CampaignSerializer, **error_responses({400: "Invalid field or template", **STAFF})},
    )
    def post(self, request: Request) -> Response:
        serializer = CampaignWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_create(**serializer.validated_data, created_by=request.user)
        return Response(campaign_body(campaign.pk), status=status.HTTP_201_CREATED)


class CampaignDetailView(APIView):
    permission_classes = [CampaignPermission]

    @extend_schema(
        tags=[TAG],
        summary="Read a campaign",
        description="The campaign with its bodies, its status and its statistics so far.",
        responses={200: CampaignSerializer, **error_responses({**STAFF, 404: NO_CAMPAIGN})},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        return Response(campaign_body(campaign_id))

    @extend_schema(
        tags=[TAG],
        summary="Change a draft or scheduled campaign",
        description="Send only the fields to change; the templates are checked before anything is saved. A "
        "scheduled campaign stays scheduled.",
        request=CampaignWriteSerializer(partial=True),
        responses={
            200: CampaignSerializer,
            **error_responses(
                {400: "Invalid field or template", **STAFF, 404: NO_CAMPAIGN, 409: "Sending or sent: not changeable"}
            ),
        },
    )
    def patch(self, request: Request, campaign_id: int) -> Response:
        campaign = campaign_or_404(campaign_id)
        serializer = CampaignWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = {name: value for name, value in serializer.validated_data.items() if name in request.data}
        services.campaign_update(campaign=campaign, **fields)
        return Response(campaign_body(campaign_id))

    @extend_schema(
        tags=[TAG],
        summary="Delete a draft or cancelled campaign",
        description="Removes the campaign for good; one that is scheduled, sending or sent must be cancelled first.",
        responses={
            204: OpenApiResponse(description="Deleted"),
            **error_responses({**STAFF, 404: NO_CAMPAIGN, 409: "Scheduled, sending or sent: cancel it first"}),
        },
    )
    def delete(self, request: Request, campaign_id: int) -> Response:
        services.campaign_delete(campaign=campaign_or_404(campaign_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CampaignPreviewView(APIView):
    permission_classes = [CampaignPermission]

    @extend_schema(
        tags=[TAG],
        summary="Preview a campaign",
        description="The subject, HTML and text as the subscriber (or a sample one) would get them, and the headers.",
        parameters=[PreviewQuerySerializer],
        responses={
            200: PreviewSerializer,
            **error_responses({400: "A template fails to render, or no such subscriber", **STAFF, 404: NO_CAMPAIGN}),
        },
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = campaign_or_404(campaign_id)
        query = PreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        preview = services.campaign_preview(campaign=campaign, subscriber=query.validated_data.get("subscriber"))
        return Response(PreviewSerializer(preview).data)


class CampaignTestSendView(APIView):
    permission_classes = [CampaignPermission]

    @extend_schema(
        tags=[TAG],
        summary="Send a test",
        description="Sends the campaign now to one address (subject prefixed with [Test]), outside the statistics; "
        "allowed in every status.",
        request=TestSendSerializer,
        responses={
            200: PreviewSerializer,
            **error_responses(
                {
                    400: "Bad address, subscriber or template",
                    **STAFF,
                    404: NO_CAMPAIGN,
                    503: "The mail server refused the test or could not be reached",
                }
            ),
        },
    )
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = campaign_or_404(campaign_id)
        serializer = TestSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        preview = services.campaign_test_send(
            campaign=campaign, to=values["email"], subscriber=values.get("subscriber")
        )
        return Response(PreviewSerializer(preview).data)


class CampaignScheduleView(APIView):
    permission_classes = [CampaignPermission]

    @extend_schema(
        tags=[TAG],
        summary="Schedule a campaign",
        description="It starts sending at scheduled_at (a draft, or a scheduled campaign moved to another time).",
        request=ScheduleSerializer,
        responses={
            200: CampaignSerializer,
            **error_responses({400: "Not a time in the future", **STAFF, 404: NO_CAMPAIGN, 409: "Already started"}),
        },
    )
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = campaign_or_404(campaign_id)
        serializer = ScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.campaign_schedule(campaign=campaign, at=serializer.validated_data["scheduled_at"])
        return Response(campaign_body(campaign_id))


def state_view(action: str, summary: str, description: str, conflict: str, *, accepted: bool = False) -> type[APIView]:
    """A POST that changes the campaign's status through services.campaign_<action>."""
    change = getattr(services, f"campaign_{action}")
    code = status.HTTP_202_ACCEPTED if accepted else status.HTTP_200_OK

    class StateView(APIView):
        permission_classes = [CampaignPermission]

        @extend_schema(
            tags=[TAG],
            summary=summary,
            description=description,
            request=None,
            responses={code: CampaignSerializer, **error_responses({**STAFF, 404: NO_CAMPAIGN, 409: conflict})},
            operation_id=f"newsletter_campaign_{action}",
        )
        def post(self, request: Request, campaign_id: int) -> Response:
            change(campaign=campaign_or_404(campaign_id))
            return Response(campaign_body(campaign_id), status=code)

    StateView.__name__ = StateView.__qualname__ = f"Campaign{action.title().replace('_', '')}View"
    return StateView


CampaignUnscheduleView = state_view("unschedule", "Unschedule a campaign", "Back to a draft.", "Not scheduled")
CampaignSendView = state_view(
    "send_now",
    "Send a campaign now",
    "Queues its sending: recipients are listed, then sent in batches at NEWSLETTER__SEND_RATE. Follow `stats`.",
    "Already sending, sent or cancelled; or its list has nobody to send to",
    accepted=True,
)
CampaignPauseView = state_view("pause", "Pause a campaign", "The sender stops before its next message.", "Not sending")
CampaignResumeView = state_view(
    "resume",
    "Resume a campaign",
    "Sending again from where it stopped; on a sending campaign, queues a batch (which ends at once if a sender is "
    "at work).",
    "Not paused or sending",
    accepted=True,
)
CampaignCancelView = state_view(
    "cancel",
    "Cancel a campaign",
    "Nothing more is sent; recipients not yet sent to are skipped.",
    "Already sent or cancelled",
)
