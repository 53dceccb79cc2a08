"""Admin of the audience: lists, subscribers, consent records, the suppression list."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from import_export.admin import ImportExportModelAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import display

from apps.newsletter.models import ConsentRecord, MailingList, Subscriber, Subscription, Suppression, SuppressionReason
from apps.newsletter.resources import SubscriberResource
from apps.newsletter.selectors.audience import mailing_lists_with_counts, normalized_email
from modules.unfold.admin import ReadOnlyAdminMixin


@admin.register(MailingList)
class MailingListAdmin(ModelAdmin):
    list_display = ("name", "slug", "is_public", "double_opt_in", "confirmed", "pending", "unsubscribed")
    list_filter = ("is_public", "double_opt_in")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[MailingList]:
        return mailing_lists_with_counts()

    @display(description="Confirmed", ordering="confirmed_count")
    def confirmed(self, mailing_list: Any) -> int:
        return int(mailing_list.confirmed_count)

    @display(description="Pending", ordering="pending_count")
    def pending(self, mailing_list: Any) -> int:
        return int(mailing_list.pending_count)

    @display(description="Unsubscribed", ordering="unsubscribed_count")
    def unsubscribed(self, mailing_list: Any) -> int:
        return int(mailing_list.unsubscribed_count)


class SubscriptionInline(TabularInline):
    model = Subscription
    fields = ("mailing_list", "status", "created_at", "confirmed_at", "unsubscribed_at")
    readonly_fields = ("created_at", "confirmed_at", "unsubscribed_at")
    autocomplete_fields = ("mailing_list",)
    extra = 0


class ConsentInline(TabularInline):
    model = ConsentRecord
    fields = ("created_at", "action", "mailing_list", "source", "form_text", "ip_address", "user_agent")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-created_at",)


@admin.register(Subscriber)
class SubscriberAdmin(ModelAdmin, ImportExportModelAdmin):
    resource_classes = (SubscriberResource,)
    import_form_class = ImportForm
    export_form_class = ExportForm
    inlines = (SubscriptionInline, ConsentInline)
    list_display = ("email", "name", "user", "created_at")
    list_filter = ("subscriptions__mailing_list", "subscriptions__status")
    search_fields = ("email", "name")
    readonly_fields = ("key", "confirmation_sent_at", "created_at", "updated_at")
    raw_id_fields = ("user",)
    list_select_related = ("user",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscriber]:
        queryset: QuerySet[Subscriber] = super().get_queryset(request)
        return queryset.distinct()


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Evidence: never edited by hand (deleting a subscriber deletes theirs)."""

    list_display = ("created_at", "subscriber", "action", "mailing_list", "source", "ip_address")
    list_filter = ("action", "mailing_list")
    search_fields = ("subscriber__email", "source")
    list_select_related = ("subscriber", "mailing_list")


class SuppressionForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ("email", "reason", "note")

    def clean_email(self) -> str:
        return normalized_email(self.cleaned_data["email"])


@admin.register(Suppression)
class SuppressionAdmin(ModelAdmin):
    """Add an address by hand (reason "manual") or lift a suppression by deleting it."""

    form = SuppressionForm
    list_display = ("email", "reason", "note", "created_at")
    list_filter = ("reason",)
    search_fields = ("email", "note")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"reason": SuppressionReason.MANUAL, **super().get_changeform_initial_data(request)}
