"""The ticket queue (the changelist: SLA badges, filters, search, nearest due first), the bulk actions (assign to
me, set priority, resolve), the ticket's page (SLA fields read-only; status, priority and assignee saved through the
services) with its history, and the chat page (apps.support.admin.chat)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from import_export.admin import ImportExportModelAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import action, display

from apps.support import resources, selectors, services
from apps.support.admin import chat
from apps.support.admin.forms import PriorityForm, TicketForm
from apps.support.admin.queue import (
    BADGE_VARIANTS,
    BREACHED,
    PRIORITY_LABELS,
    STATUS_LABELS,
    next_due_expression,
    sla_badge,
)
from apps.support.exceptions import SupportError
from apps.support.models import Status, Ticket, TicketChange

SLA_FIELDS = (
    "first_response_due_at",
    "first_responded_at",
    "first_response_breached",
    "resolution_due_at",
    "resolution_breached",
    "paused_at",
    "paused_seconds",
    "resolved_at",
    "closed_at",
)
RECORD_FIELDS = ("created_at", "updated_at", "last_customer_message_at", "last_staff_message_at")


def nul_in_query(request: HttpRequest) -> bool:
    """A NUL in a filter's value (?status__exact=%00) reaches PostgreSQL, which refuses it in a text value: a
    DataError, a 500, where the queue or its export should answer as for any bad filter."""
    return any("\x00" in value for _, values in request.GET.lists() for value in values)


def bad_filter_redirect() -> HttpResponseRedirect:
    """What the admin answers a filter it cannot apply: the queue without filters, with its error flag."""
    return HttpResponseRedirect(f"{reverse('admin:support_ticket_changelist')}?{ERROR_FLAG}=1")


class BreachedFilter(admin.SimpleListFilter):
    title = "SLA breached"
    parameter_name = "breached"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Breached"), ("no", "Not breached")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        if self.value() == "yes":
            return queryset.filter(BREACHED)
        if self.value() == "no":
            return queryset.exclude(BREACHED)
        return queryset


class HistoryInline(TabularInline):
    model = TicketChange
    fields = ("created_at", "field", "old_value", "new_value", "actor")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-created_at", "-id")
    verbose_name = "change"
    verbose_name_plural = "History"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TicketChange]:
        history: QuerySet[TicketChange] = super().get_queryset(request)
        return history.select_related("actor")


@admin.register(Ticket)
class TicketAdmin(ModelAdmin, ImportExportModelAdmin):
    form = TicketForm
    resource_classes = (resources.TicketResource,)
    import_form_class = ImportForm
    export_form_class = ExportForm
    inlines = (HistoryInline,)
    list_display = (
        "number_link",
        "subject_link",
        "requester",
        "status_label",
        "priority_label",
        "assignee",
        "sla",
        "updated_at",
    )
    list_display_links = ("number_link",)
    list_filter = (
        "status",
        "priority",
        ("assignee", admin.RelatedOnlyFieldListFilter),
        BreachedFilter,
        ("category", admin.RelatedOnlyFieldListFilter),
        ("created_at", RangeDateTimeFilter),
    )
    list_filter_submit = True
    search_fields = ("=number", "subject", "requester__email")
    search_help_text = "A ticket number (#1042), words of the subject, or the requester's email address"
    list_select_related = ("requester", "assignee", "category")
    list_per_page = 50
    actions = ["assign_to_me", "set_priority", "resolve"]
    change_form_before_template = "admin/support/ticket/change_form_before.html"
    readonly_fields = ("number", "subject", "requester", "category", *SLA_FIELDS, *RECORD_FIELDS)
    fieldsets = (
        (None, {"fields": ("number", "subject", "requester", "category", "status", "priority", "assignee")}),
        ("SLA", {"fields": SLA_FIELDS}),
        ("Record", {"fields": RECORD_FIELDS}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Ticket]:
        tickets: QuerySet[Ticket] = super().get_queryset(request)
        return selectors.unread_annotated(tickets.annotate(next_due_at=next_due_expression()), side="staff")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponseBase:
        if nul_in_query(request):
            return bad_filter_redirect()
        response: HttpResponseBase = super().changelist_view(request, extra_context)
        return response

    def export_action(self, request: HttpRequest) -> HttpResponseBase:
        if nul_in_query(request):
            return bad_filter_redirect()
        response: HttpResponseBase = super().export_action(request)
        return response

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # The queue: the ticket whose SLA runs out first on top; tickets with no clock running last, newest first.
        return [F("next_due_at").asc(nulls_last=True), "-updated_at"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Ticket], search_term: str
    ) -> tuple[QuerySet[Ticket], bool]:
        found: tuple[QuerySet[Ticket], bool] = super().get_search_results(
            request, queryset, search_term.strip().removeprefix("#")
        )
        return found

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a ticket is opened by its customer (the API) or imported, always with its first message

    @display(description="Ticket", ordering="number")
    def number_link(self, ticket: Ticket) -> str:
        return f"#{ticket.number}"

    @display(description="Subject", ordering="subject")
    def subject_link(self, ticket: Ticket) -> str:
        unread = getattr(ticket, "unread", 0)
        url = reverse("admin:support_ticket_chat", args=[ticket.pk])
        if unread:
            return format_html(
                '<a class="text-primary-600 font-semibold" href="{}">{}</a> <span data-unread="{}">({} new)</span>',
                url,
                ticket.subject,
                unread,
                unread,
            )
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, ticket.subject)

    @display(description="Status", ordering="status", label=STATUS_LABELS)
    def status_label(self, ticket: Ticket) -> tuple[str, str]:
        return ticket.status, ticket.get_status_display()

    @display(description="Priority", ordering="priority", label=PRIORITY_LABELS)
    def priority_label(self, ticket: Ticket) -> tuple[str, str]:
        return ticket.priority, ticket.get_priority_display()

    @display(description="SLA", ordering="next_due_at", label=BADGE_VARIANTS)
    def sla(self, ticket: Ticket) -> tuple[str, str]:
        return sla_badge(ticket, now=timezone.now())

    def save_model(self, request: HttpRequest, obj: Ticket, form: forms.ModelForm, change: bool) -> None:
        """Status, priority and assignee (the form's only fields) each through its service, which records the
        history and the event; nothing is saved around them."""
        if not change:
            raise PermissionDenied
        try:
            services.ticket_update(
                ticket=Ticket.objects.get(pk=obj.pk),
                actor=request.user,
                status=obj.status,
                priority=obj.priority,
                assignee_id=obj.assignee_id,
            )
        except SupportError as error:  # a concurrent change since the page was shown: said, not a 500
            self.message_user(request, error.message, messages.ERROR)
        obj.refresh_from_db()

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Ticket], change: Callable[[Ticket], Any], done: str
    ) -> None:
        if not self.has_change_permission(request):
            raise PermissionDenied
        count, refused = 0, []
        for ticket in queryset.order_by("number"):
            try:
                change(ticket)
            except SupportError as error:
                refused.append(f"#{ticket.number}: {error.message}")
            else:
                count += 1
        if count:
            self.message_user(request, f"{count} ticket(s) {done}.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not changed: " + " ".join(refused), messages.WARNING)

    @action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._each(
            request,
            queryset,
            lambda ticket: services.ticket_assign(ticket=ticket, actor=request.user, assignee_id=request.user.pk),
            "assigned to you",
        )

    @action(description="Resolve", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._each(
            request,
            queryset,
            lambda ticket: services.ticket_set_status(ticket=ticket, actor=request.user, status=Status.RESOLVED),
            "resolved",
        )

    @action(description="Set priority…", permissions=["change"])
    def set_priority(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> TemplateResponse | None:
        form = PriorityForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            priority = form.cleaned_data["priority"]
            self._each(
                request,
                queryset,
                lambda ticket: services.ticket_set_priority(ticket=ticket, actor=request.user, priority=priority),
                f"set to {priority}",
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Set the priority of tickets",
            "opts": self.model._meta,
            "form": form,
            "tickets": list(queryset.order_by("number")[:100]),
            "count": queryset.count(),
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:support_ticket_changelist"),
        }
        return TemplateResponse(request, "admin/support/ticket/set_priority.html", context)

    def get_urls(self) -> list[URLPattern]:
        chat_page = path(
            "<path:object_id>/chat/", self.admin_site.admin_view(self.chat_view), name="support_ticket_chat"
        )
        return [chat_page, *super().get_urls()]

    def chat_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        ticket = self.get_object(request, unquote(object_id))
        if ticket is None:
            missing: HttpResponseBase = self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
            return missing
        if not self.has_view_permission(request, ticket):
            raise PermissionDenied
        may_change = self.has_change_permission(request, ticket)
        page = chat.ChatPage(request, ticket, may_change=may_change)
        if request.method == "POST":
            if not may_change:
                raise PermissionDenied
            done = page.post()
            if done is not None:
                return done
        elif may_change:
            # Marking read is a change (the customer sees the receipt, and the API asks the change permission for
            # it): a colleague who may only look leaves the messages unread for whoever answers them.
            page.opened()
        context = {
            **self.admin_site.each_context(request),
            **page.context(),
            "title": f"#{ticket.number} {ticket.subject}",
            "opts": self.opts,
            "change_url": reverse("admin:support_ticket_change", args=[ticket.pk]),
            "changelist_url": reverse("admin:support_ticket_changelist"),
        }
        return TemplateResponse(request, "admin/support/ticket/chat.html", context, status=page.status)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if object_id is not None:
            extra_context = {
                **(extra_context or {}),
                "chat_url": reverse("admin:support_ticket_chat", args=[unquote(object_id)]),
            }
        response: HttpResponse = super().changeform_view(request, object_id, form_url, extra_context)
        return response
