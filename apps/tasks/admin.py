"""Unfold admin for runs: filters, failure tracebacks, a retry action, and the dashboard view."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from apps.tasks import selectors, services
from apps.tasks.exceptions import RunNotRetryable, TaskQueueUnavailable
from apps.tasks.models import TaskRun
from modules.unfold.admin import ReadOnlyAdminMixin

STATUS_LABELS = {"READY": "info", "RUNNING": "warning", "SUCCESSFUL": "success", "FAILED": "danger"}


@admin.register(TaskRun)
class TaskRunAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("task_name_display", "status_display", "queue", "attempts", "enqueued_at", "duration")
    list_display_links = ("task_name_display",)
    list_filter = ("status", "queue", "task_path")
    search_fields = ("id", "task_path")
    date_hierarchy = "enqueued_at"
    list_per_page = 50
    list_before_template = "tasks/admin/changelist_before.html"
    actions = ["retry_runs"]
    fieldsets = (
        (None, {"fields": ("id", "task_path", "queue", "backend", "status", "attempts", "worker", "worker_ids")}),
        ("Arguments and result", {"fields": ("args", "kwargs", "return_value", "retried_from")}),
        (
            "Times",
            {"fields": ("enqueued_at", "run_after", "started_at", "last_attempted_at", "finished_at", "duration")},
        ),
        ("Error", {"fields": ("error_class", "traceback_display", "errors")}),
    )
    readonly_fields = (
        "id",
        "task_path",
        "queue",
        "backend",
        "status",
        "attempts",
        "worker",
        "worker_ids",
        "args",
        "kwargs",
        "return_value",
        "retried_from",
        "enqueued_at",
        "run_after",
        "started_at",
        "last_attempted_at",
        "finished_at",
        "duration",
        "error_class",
        "traceback_display",
        "errors",
    )

    @display(description="Task", ordering="task_path")
    def task_name_display(self, run: TaskRun) -> str:
        return run.task_name

    @display(description="Status", ordering="status", label=STATUS_LABELS)
    def status_display(self, run: TaskRun) -> str:
        return run.status

    @display(description="Traceback")
    def traceback_display(self, run: TaskRun) -> str:
        return format_html('<pre class="text-xs" style="white-space: pre-wrap">{}</pre>', run.traceback or "—")

    @action(description="Retry the selected runs")
    def retry_runs(self, request: HttpRequest, queryset: QuerySet[TaskRun]) -> None:
        retried, refused = 0, []
        for run in queryset:
            try:
                services.run_retry(run)
                retried += 1
            except RunNotRetryable as error:
                refused.append(str(error))
            except TaskQueueUnavailable as error:
                self.message_user(request, error.message, messages.ERROR)
                return
        if retried:
            self.message_user(request, f"{retried} run(s) enqueued again.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)

    def get_urls(self) -> list[URLPattern]:
        dashboard = path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="tasks_taskrun_dashboard")
        return [dashboard, *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        stats = selectors.stats()
        per_minute = stats["last_hour"]["per_minute"]
        peak = max((m["successful"] + m["failed"] for m in per_minute), default=0) or 1
        for minute in per_minute:
            minute["height"] = round(100 * (minute["successful"] + minute["failed"]) / peak)
        context = {
            **self.admin_site.each_context(request),
            # As the sidebar names it.
            "title": "Tasks dashboard",
            "opts": self.model._meta,
            "stats": stats,
            "status_labels": STATUS_LABELS,
            "failures": selectors.recent_failures(),
            "changelist_url": reverse("admin:tasks_taskrun_changelist"),
        }
        return TemplateResponse(request, "tasks/admin/dashboard.html", context)
