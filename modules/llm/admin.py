"""The record of provider calls: read only, filtered by operation, provider and outcome, by day."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin
from unfold.decorators import display

from modules.llm.models import LlmCall
from modules.unfold.admin import ReadOnlyAdminMixin


@admin.register(LlmCall)
class LlmCallAdmin(ReadOnlyAdminMixin, ModelAdmin):  # type: ignore[misc]
    list_display = (
        "created_at",
        "operation",
        "provider",
        "model",
        "purpose",
        "input_tokens",
        "output_tokens",
        "cost",
        "duration_ms",
        "batch_size",
        "ok_display",
    )
    list_filter = ("operation", "provider", "ok", "model")
    search_fields = ("purpose", "model", "error")
    date_hierarchy = "created_at"
    list_per_page = 100
    fields = (
        "created_at",
        "operation",
        "provider",
        "model",
        "purpose",
        "input_tokens",
        "output_tokens",
        "cost",
        "duration_ms",
        "batch_size",
        "ok",
        "error",
    )
    readonly_fields = fields

    @display(description="OK", boolean=True, ordering="ok")  # type: ignore[untyped-decorator]
    def ok_display(self, call: LlmCall) -> bool:
        return call.ok
