"""Canned replies (the texts staff pick on a ticket's chat page) and the categories customers choose from."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin
from unfold.decorators import display

from apps.support.models import CannedReply, Category


@admin.register(CannedReply)
class CannedReplyAdmin(ModelAdmin):
    list_display = ("title", "preview", "active", "updated_at")
    list_filter = ("active",)
    list_editable = ("active",)
    search_fields = ("title", "body")
    readonly_fields = ("created_at", "updated_at")
    fields = ("title", "body", "active", "created_at", "updated_at")

    @display(description="Text")
    def preview(self, reply: CannedReply) -> str:
        return reply.body if len(reply.body) <= 80 else reply.body[:79] + "…"


@admin.register(Category)
class CategoryAdmin(ModelAdmin):
    list_display = ("name", "active", "ticket_count")
    list_filter = ("active",)
    list_editable = ("active",)
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        categories: QuerySet[Category] = super().get_queryset(request)
        return categories.annotate(ticket_total=Count("tickets"))

    @display(description="Tickets", ordering="ticket_total")
    def ticket_count(self, category: Category) -> int:
        return int(getattr(category, "ticket_total", 0))
