"""Unfold admin for leads: the list with filters and search, a board by status, import and export (CSV, XLSX), a
bulk "assign to…" action, and a lead's notes, status history and touches on its page.

Status and assignee changes made here go through the services, as the API's do: a status change must be allowed
from where the lead is (models.TRANSITIONS) and is recorded with who made it; a new assignee is emailed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from import_export.admin import ImportExportModelAdmin
from unfold.admin import ModelAdmin, StackedInline, TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminSelectWidget

from apps.leads import resources, selectors, services
from apps.leads.exceptions import LeadsError
from apps.leads.models import (
    ATTRIBUTION_FIELDS,
    CONTACT_FIELDS,
    TRANSITIONS,
    Lead,
    LeadNote,
    LeadTouch,
    Status,
    StatusChange,
)

STATUS_LABELS = {
    Status.NEW: "info",
    Status.CONTACTED: "warning",
    Status.QUALIFIED: "primary",
    Status.WON: "success",
    Status.LOST: "danger",
}
# The board shows each status's newest leads; the list (filtered by status) has them all.
BOARD_CARDS_PER_COLUMN = 30
CONSENT_FIELDS = ("consent_text", "consent_version", "consent_ip", "consent_at")


def staff_members() -> QuerySet[Any]:
    """Whom a lead may be given: those who may work on leads (not staff of other teams)."""
    return selectors.lead_workers().order_by("email", "pk")


class LeadForm(forms.ModelForm):
    """The lead's page: its status may move only as the pipeline allows (the choices offered), and only to an
    active staff member may it be assigned."""

    class Meta:
        model = Lead
        fields = ("status", "assignee", *CONTACT_FIELDS, *ATTRIBUTION_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "assignee" in self.fields:
            self.fields["assignee"].queryset = staff_members()  # type: ignore[attr-defined]
        if "status" in self.fields and self.instance.pk is not None:
            current = self.instance.status
            allowed = (current, *TRANSITIONS.get(current, ()))
            self.fields["status"].choices = [  # type: ignore[attr-defined]
                (value, label) for value, label in Status.choices if value in allowed
            ]
            self.fields["status"].help_text = "Won is final; a lost lead can be reopened as contacted."


class NoteFormSet(BaseInlineFormSet):
    """New notes are by the staff member who adds them."""

    request: HttpRequest

    def save_new(self, form: forms.ModelForm, commit: bool = True) -> LeadNote:
        note: LeadNote = super().save_new(form, commit=False)
        note.author = self.request.user  # type: ignore[assignment]
        if commit:
            note.save()
        return note


class NoteInline(TabularInline):
    model = LeadNote
    formset = NoteFormSet
    fields = ("body", "author", "created_at")
    readonly_fields = ("author", "created_at")
    extra = 1
    ordering = ("-created_at",)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        formset.request = request
        return formset

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a note is a record: added, never rewritten


class StatusChangeInline(TabularInline):
    model = StatusChange
    fields = ("changed_at", "from_status", "to_status", "changed_by")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-changed_at",)
    verbose_name = "status change"
    verbose_name_plural = "Status history"


class TouchInline(StackedInline):
    model = LeadTouch
    fields = (
        "created_at",
        ("name", "email", "phone", "company"),
        "message",
        ("source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"),
        ("referrer", "landing_page"),
        ("ip", "user_agent"),
        ("consent_version", "consent_text"),
    )
    readonly_fields = (
        "created_at",
        "name",
        "email",
        "phone",
        "company",
        "message",
        *ATTRIBUTION_FIELDS,
        "ip",
        "user_agent",
        "consent_version",
        "consent_text",
    )
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-created_at",)
    verbose_name = "touch"
    verbose_name_plural = "Touches (each submission of the form)"


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=staff_members(),
        widget=UnfoldAdminSelectWidget,
        help_text="Active staff members with the leads permissions",
    )


@admin.register(Lead)
class LeadAdmin(ModelAdmin, ImportExportModelAdmin):
    form = LeadForm
    resource_classes = (resources.LeadResource,)
    import_form_class = ImportForm
    export_form_class = ExportForm
    inlines = (NoteInline, StatusChangeInline, TouchInline)
    list_display = ("__str__", "company", "status_label", "assignee", "source", "created_at", "last_touch_at")
    list_filter = (
        "status",
        ("assignee", admin.RelatedOnlyFieldListFilter),
        "source",
        ("created_at", RangeDateTimeFilter),
    )
    list_filter_submit = True
    search_fields = ("name", "email", "company", "phone")
    list_select_related = ("assignee",)
    date_hierarchy = "created_at"
    list_per_page = 50
    list_before_template = "leads/admin/changelist_before.html"
    actions = ["assign_to"]
    readonly_fields = ("reference", *CONSENT_FIELDS, "created_at", "updated_at", "last_touch_at")
    fieldsets = (
        (None, {"fields": ("status", "assignee")}),
        ("Contact", {"fields": CONTACT_FIELDS}),
        ("Attribution (first touch)", {"fields": ATTRIBUTION_FIELDS}),
        ("Consent (latest)", {"fields": CONSENT_FIELDS}),
        ("Record", {"fields": ("reference", "created_at", "updated_at", "last_touch_at")}),
    )

    def get_inlines(self, request: HttpRequest, obj: Lead | None) -> Any:
        return self.inlines if obj is not None else ()

    def get_fieldsets(self, request: HttpRequest, obj: Lead | None = None) -> Any:
        if obj is None:  # a lead added by hand starts as new: its pipeline begins on its page
            return ((None, {"fields": ("assignee", *CONTACT_FIELDS, *ATTRIBUTION_FIELDS)}),)
        return self.fieldsets

    def save_model(self, request: HttpRequest, obj: Lead, form: forms.ModelForm, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            if obj.assignee is not None and obj.assignee != request.user:
                services.notify_assignee_on_commit(obj, obj.assignee.pk)
            return
        stored = Lead.objects.get(pk=obj.pk)
        new_status, new_assignee = obj.status, obj.assignee
        obj.status, obj.assignee = stored.status, stored.assignee
        super().save_model(request, obj, form, change)
        try:
            if new_status != stored.status:
                services.lead_set_status(lead=obj, status=new_status, by=request.user)
            if new_assignee != stored.assignee:
                services.lead_assign(lead=obj, assignee=new_assignee, by=request.user)
        except LeadsError as error:  # a concurrent change since the page was shown: said, not a 500
            self.message_user(request, error.message, messages.ERROR)
        obj.refresh_from_db()

    @display(description="Status", ordering="status", label=STATUS_LABELS)
    def status_label(self, lead: Lead) -> tuple[str, str]:
        return lead.status, lead.get_status_display()

    @action(description="Assign to…")
    def assign_to(self, request: HttpRequest, queryset: QuerySet[Lead]) -> TemplateResponse | None:
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = AssignForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            assignee = form.cleaned_data["assignee"]
            count = services.leads_assign(leads=queryset, assignee=assignee, by=request.user)
            self.message_user(request, f"{count} lead(s) assigned to {assignee}.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Assign leads",
            "opts": self.model._meta,
            "form": form,
            "leads": list(queryset.select_related("assignee")[:100]),
            "count": queryset.count(),
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:leads_lead_changelist"),
        }
        return TemplateResponse(request, "leads/admin/assign.html", context)

    def get_urls(self) -> list[URLPattern]:
        board = path("board/", self.admin_site.admin_view(self.board_view), name="leads_lead_board")
        return [board, *super().get_urls()]

    def board_view(self, request: HttpRequest) -> HttpResponseBase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = reverse("admin:leads_lead_changelist")
        columns = selectors.board_columns(per_column=BOARD_CARDS_PER_COLUMN)
        for column in columns:
            column["list_url"] = f"{changelist}?status__exact={column['status']}"
            column["variant"] = STATUS_LABELS[column["status"]]
        context = {
            **self.admin_site.each_context(request),
            "title": "Leads board",
            "opts": self.model._meta,
            "columns": columns,
            "per_column": BOARD_CARDS_PER_COLUMN,
            "changelist_url": changelist,
        }
        return TemplateResponse(request, "leads/admin/board.html", context)
