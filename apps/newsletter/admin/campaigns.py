"""Admin of the campaigns: drafts edited with their templates checked, a Send button that asks for confirmation with
the number of recipients, pause, resume and cancel, a test send, a preview page, and a progress block that refreshes
itself (htmx, which Unfold loads on every admin page, polls a small fragment: no script of our own, nothing inline)
with sent, failed and pending messages, opens, clicks and unsubscribes. The send log (deliveries) is read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminEmailInputWidget

from apps.newsletter.campaign_mail import compile_campaign
from apps.newsletter.exceptions import CampaignTemplateInvalid, NewsletterError, TestSendFailed
from apps.newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from apps.newsletter.selectors import campaigns as selectors
from apps.newsletter.services import campaigns as services
from modules.unfold.admin import ReadOnlyAdminMixin

STATUS_LABELS = {
    CampaignStatus.DRAFT: "info",
    CampaignStatus.SCHEDULED: "info",
    CampaignStatus.SENDING: "warning",
    CampaignStatus.PAUSED: "warning",
    CampaignStatus.SENT: "success",
    CampaignStatus.CANCELLED: "danger",
}
DELIVERY_LABELS = {
    DeliveryStatus.PENDING: "info",
    DeliveryStatus.SENDING: "warning",
    DeliveryStatus.SENT: "success",
    DeliveryStatus.FAILED: "danger",
    DeliveryStatus.SUPPRESSED: "danger",
    DeliveryStatus.SKIPPED: "info",
}
PROGRESS_TEMPLATE = "newsletter/campaigns/progress.html"
MAX_ID_DIGITS = 19


class CampaignForm(forms.ModelForm):
    """The templates are compiled on save: a syntax error is an error of its field, never a failed send."""

    class Meta:
        model = Campaign
        fields = services.EDITABLE_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        sources = {name: cleaned.get(name) for name in ("subject", "html_body", "text_body")}
        if all(isinstance(source, str) for source in sources.values()):
            try:
                compile_campaign(**sources)  # type: ignore[arg-type]
            except CampaignTemplateInvalid as error:
                self.add_error(error.field, error.message)
        return cleaned


class SendForm(BaseDialogForm):
    """The confirmation of a send, showing who it goes to."""

    def render_before_template(self) -> SafeString:
        campaign = campaign_named(self.object_id)
        if campaign is None:
            return format_html("{}", "")
        recipients = services.recipient_count(campaign=campaign)
        # The campaign's name, not its subject: the subject is a template ("News for {{ subscriber.name }}").
        return format_html(
            '<p class="leading-relaxed" data-recipients="{}">Send <strong>{}</strong> to <strong>{}</strong> '
            "confirmed subscriber(s) of <strong>{}</strong> now? It cannot be undone; it can be paused or cancelled "
            "while it is being sent.</p>",
            recipients,
            campaign.name,
            recipients,
            campaign.mailing_list,
        )


class TestSendForm(BaseDialogForm):
    email = forms.EmailField(
        widget=UnfoldAdminEmailInputWidget, help_text="The campaign goes to this address only, marked [Test]"
    )


class ConfirmForm(BaseDialogForm):
    """A confirmation only (a POST with its CSRF token)."""


def campaign_named(object_id: Any) -> Campaign | None:
    """The campaign an admin URL names, or None (also for an id that is not a number)."""
    key = str(object_id or "")
    if not key.isdigit() or len(key) > MAX_ID_DIGITS:
        return None
    return Campaign.objects.select_related("mailing_list").filter(pk=int(key)).first()


def progress_html(campaign: Campaign, request: HttpRequest | None = None) -> str:
    stats = selectors.campaign_stats(campaign=campaign)
    total = stats.get("recipients", 0)
    done = total - stats.get("pending", 0)
    context = {
        "campaign": campaign,
        "stats": stats,
        "percent": round(100 * done / total) if total else 0,
        "live": campaign.status in (CampaignStatus.SCHEDULED, *services.LIVE),
        "url": reverse("admin:newsletter_campaign_progress", args=[campaign.pk]),
    }
    return render_to_string(PROGRESS_TEMPLATE, context, request=request)


@admin.register(Campaign)
class CampaignAdmin(ModelAdmin):
    form = CampaignForm
    list_display = ("name", "status_label", "mailing_list", "scheduled_at", "sent_display", "opens", "clickers")
    list_filter = ("status", "mailing_list")
    search_fields = ("name", "subject")
    list_select_related = ("mailing_list",)
    date_hierarchy = "created_at"
    actions_detail = ["send_campaign", "pause_campaign", "resume_campaign", "cancel_campaign", "test_send", "preview"]
    fieldsets = (
        (None, {"fields": ("name", "mailing_list", "status_text", "progress")}),
        ("Content", {"fields": ("subject", "html_body", "text_body", "from_email")}),
        ("Tracking", {"fields": ("track_opens", "track_clicks")}),
        ("Times", {"fields": ("scheduled_at", "started_at", "finished_at", "created_by", "created_at")}),
    )
    always_read_only = (
        "status_text",
        "progress",
        "scheduled_at",
        "started_at",
        "finished_at",
        "created_by",
        "created_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        return selectors.with_stats(super().get_queryset(request))

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> tuple[str, ...]:
        if obj is not None and obj.status not in services.EDITABLE:
            return (*self.always_read_only, *CampaignForm.Meta.fields)
        return self.always_read_only

    def get_fieldsets(self, request: HttpRequest, obj: Campaign | None = None) -> Any:
        if obj is None:  # a new draft: no status or progress yet
            return ((None, {"fields": ("name", "mailing_list")}), *self.fieldsets[1:3])
        return self.fieldsets

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user if request.user.is_authenticated else None
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        if obj is not None and obj.status not in services.DELETABLE:
            return False
        return bool(super().has_delete_permission(request, obj))

    # Columns and read-only fields ------------------------------------------------------------------------------------

    @display(description="Status", ordering="status", label=STATUS_LABELS)
    def status_label(self, campaign: Campaign) -> tuple[str, str]:
        return campaign.status, campaign.get_status_display()

    @display(description="Status")
    def status_text(self, campaign: Campaign) -> str:
        return str(campaign.get_status_display())

    @display(description="Sent")
    def sent_display(self, campaign: Campaign) -> str:
        recipients = getattr(campaign, "recipients", 0)
        return f"{getattr(campaign, 'sent', 0)} / {recipients}" if recipients else "—"

    @display(description="Opens")
    def opens(self, campaign: Campaign) -> int:
        return int(getattr(campaign, "opens", 0))

    @display(description="Clicked")
    def clickers(self, campaign: Campaign) -> int:
        return int(getattr(campaign, "clickers", 0))

    @display(description="Progress")
    def progress(self, campaign: Campaign) -> SafeString:
        return SafeString(progress_html(campaign))

    # Pages of its own ------------------------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="newsletter_campaign_progress",
            ),
            path(
                "<path:object_id>/rendered/",
                self.admin_site.admin_view(self.preview_view),
                name="newsletter_campaign_rendered",
            ),
        ]
        inherited: list[URLPattern] = super().get_urls()
        return own + inherited

    def _viewable(self, request: HttpRequest, object_id: str) -> Campaign:
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign = campaign_named(object_id)
        if campaign is None:
            raise Http404("No such campaign.")
        return campaign

    def progress_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The progress block alone, which the block polls while the campaign is scheduled, sending or paused."""
        campaign = self._viewable(request, object_id)
        return HttpResponse(progress_html(campaign, request))

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The mail as a sample subscriber gets it: subject, headers, the HTML in a sandboxed frame, the text."""
        campaign = self._viewable(request, object_id)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "campaign": campaign}
        try:
            context["preview"] = services.campaign_preview(campaign=campaign)
        except CampaignTemplateInvalid as error:
            context["error"] = error.message
        context["title"] = f"Preview: {campaign.name}"
        return TemplateResponse(request, "newsletter/campaigns/preview.html", context)

    # Actions ----------------------------------------------------------------------------------------------------------

    def _status_is(self, request: HttpRequest, object_id: Any, statuses: tuple[str, ...]) -> bool:
        if not request.user.has_perm("newsletter.change_campaign"):
            return False
        if object_id is None:
            return True
        campaign = campaign_named(object_id.pk if isinstance(object_id, Campaign) else object_id)
        return campaign is not None and campaign.status in statuses

    def has_send_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._status_is(request, object_id, services.EDITABLE)

    def has_pause_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._status_is(request, object_id, (CampaignStatus.SENDING,))

    def has_resume_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._status_is(request, object_id, services.LIVE)

    def has_cancel_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self._status_is(request, object_id, (*services.EDITABLE, *services.LIVE))

    def has_test_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return bool(request.user.has_perm("newsletter.change_campaign"))

    def _change(self, request: HttpRequest, object_id: str, change: Any, done: str) -> HttpResponse:
        campaign = campaign_named(object_id)
        if campaign is None:
            self.message_user(request, f"No campaign #{object_id}.", messages.ERROR)
            return _back(request, reverse("admin:newsletter_campaign_changelist"))
        try:
            change(campaign=campaign)
        except NewsletterError as error:
            self.message_user(request, error.message, messages.WARNING)
        else:
            self.message_user(request, f"“{campaign.name}” {done}.", messages.SUCCESS)
        return _back(request, reverse("admin:newsletter_campaign_change", args=[campaign.pk]))

    @action(
        description="Send",
        icon="send",
        permissions=["send"],
        dialog={
            "title": "Send this campaign?",
            "description": "It goes to the list's confirmed subscribers, suppressed addresses left out.",
            "form_class": SendForm,
            "form_submit_text": "Send now",
        },
    )
    def send_campaign(self, request: HttpRequest, form: SendForm, object_id: str) -> HttpResponse:
        return self._change(request, object_id, services.campaign_send_now, "is being sent")

    @action(
        description="Pause",
        icon="pause",
        permissions=["pause"],
        dialog={"title": "Pause sending?", "form_class": ConfirmForm, "form_submit_text": "Pause"},
    )
    def pause_campaign(self, request: HttpRequest, form: ConfirmForm, object_id: str) -> HttpResponse:
        return self._change(request, object_id, services.campaign_pause, "is paused")

    @action(
        description="Resume",
        icon="play_arrow",
        permissions=["resume"],
        dialog={"title": "Resume sending?", "form_class": ConfirmForm, "form_submit_text": "Resume"},
    )
    def resume_campaign(self, request: HttpRequest, form: ConfirmForm, object_id: str) -> HttpResponse:
        return self._change(request, object_id, services.campaign_resume, "is being sent again")

    @action(
        description="Cancel",
        icon="cancel",
        permissions=["cancel"],
        dialog={
            "title": "Cancel this campaign?",
            "description": "Nothing more is sent; subscribers not yet sent to are skipped. It cannot be undone.",
            "form_class": ConfirmForm,
            "form_submit_text": "Cancel the campaign",
        },
    )
    def cancel_campaign(self, request: HttpRequest, form: ConfirmForm, object_id: str) -> HttpResponse:
        return self._change(request, object_id, services.campaign_cancel, "is cancelled")

    @action(
        description="Send a test",
        icon="outgoing_mail",
        permissions=["test"],
        dialog={
            "title": "Send a test",
            "description": "Rendered for a sample subscriber; it counts in no statistics.",
            "form_class": TestSendForm,
            "form_submit_text": "Send the test",
        },
    )
    def test_send(self, request: HttpRequest, form: TestSendForm, object_id: str) -> HttpResponse:
        campaign = campaign_named(object_id)
        if campaign is None:
            raise Http404("No such campaign.")
        try:
            services.campaign_test_send(campaign=campaign, to=form.cleaned_data["email"])
        except CampaignTemplateInvalid as error:
            self.message_user(request, error.message, messages.ERROR)
        except TestSendFailed as error:  # the mail server refused or is unreachable
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, f"Test sent to {form.cleaned_data['email']}.", messages.SUCCESS)
        return _back(request, reverse("admin:newsletter_campaign_change", args=[campaign.pk]))

    @action(description="Preview", icon="visibility")
    def preview(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:newsletter_campaign_rendered", args=[object_id]))


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """The send log: who was sent each campaign, when, and why not."""

    list_display = ("email", "campaign", "status_label", "attempts", "sent_at", "error")
    list_filter = ("status", "campaign")
    search_fields = ("email", "message_id")
    list_select_related = ("campaign",)
    list_per_page = 100

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the log is what makes a send resumable

    @display(description="Status", ordering="status", label=DELIVERY_LABELS)
    def status_label(self, delivery: Delivery) -> tuple[str, str]:
        return delivery.status, delivery.get_status_display()


def _back(request: HttpRequest, url: str) -> HttpResponse:
    """After a dialog's form: htmx follows HX-Redirect (a whole page load, with the messages); a plain redirect
    otherwise."""
    if request.headers.get("HX-Request"):
        return HttpResponse(headers={"HX-Redirect": url})
    return HttpResponseRedirect(url)
