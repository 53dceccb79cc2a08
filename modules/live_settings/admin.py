from __future__ import annotations

import json
from typing import Any

from constance.admin import Config, ConstanceAdmin
from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RangeDateTimeFilter

from modules.live_settings.changes import changes_made_in_admin
from modules.live_settings.models import LiveSettingChange


class LiveSettingsAdmin(ConstanceAdmin):  # type: ignore[misc]
    """constance's page, naming its user to the change records while it saves (modules.live_settings.changes)."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        with changes_made_in_admin(user_id=request.user.pk):
            response: HttpResponse = super().changelist_view(request, extra_context)
        return response


admin.site.unregister([Config])
admin.site.register([Config], LiveSettingsAdmin)


def shown(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


@admin.register(LiveSettingChange)
class LiveSettingChangeAdmin(ModelAdmin):  # type: ignore[misc]
    """The record of changes: read only, and kept (no one deletes a line of it by hand)."""

    list_display = ("changed_at", "name", "old", "new", "changed_by", "source")
    list_filter = ("name", "source", ("changed_at", RangeDateTimeFilter))
    list_filter_submit = True
    search_fields = ("name",)
    list_select_related = ("changed_by",)
    fields = ("changed_at", "name", "old", "new", "changed_by", "source")
    readonly_fields = fields

    @admin.display(description="old value")
    def old(self, change: LiveSettingChange) -> str:
        return shown(change.old_value)

    @admin.display(description="new value")
    def new(self, change: LiveSettingChange) -> str:
        return shown(change.new_value)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LiveSettingChange | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LiveSettingChange | None = None) -> bool:
        return False
