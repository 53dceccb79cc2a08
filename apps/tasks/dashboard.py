"""The tasks app's cards on the admin dashboard (AppSpec.dashboard in cfg/catalog.py)."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest
from django.tasks import TaskResultStatus
from django.urls import reverse
from django.utils import timezone

from apps.tasks import selectors
from modules.unfold.dashboard import SHORTCUTS, Card, Chart, Link, Links, Series, Stat


def task_cards(request: HttpRequest) -> list[Card]:
    if not request.user.has_perm("tasks.view_taskrun"):
        return []
    now = timezone.now()
    counts = selectors.status_counts()
    runs = reverse("admin:tasks_taskrun_changelist")
    last_hour = selectors.throughput_last_hour(now)
    minutes = last_hour["per_minute"]
    dashboard = reverse("admin:tasks_taskrun_dashboard")
    return [
        Stat(
            key="tasks_queued",
            title="Tasks queued",
            note="Waiting for a worker",
            value=counts[TaskResultStatus.READY],
            link=f"{runs}?status__exact={TaskResultStatus.READY}",
        ),
        Stat(
            key="tasks_running",
            title="Tasks running",
            note="Now",
            value=counts[TaskResultStatus.RUNNING],
            link=f"{runs}?status__exact={TaskResultStatus.RUNNING}",
        ),
        Stat(
            key="tasks_failed_24h",
            title="Tasks failed",
            note="Last 24 hours",
            value=selectors.failed_since(now - timedelta(hours=24)),
            link=f"{runs}?status__exact={TaskResultStatus.FAILED}",
            alert=True,
        ),
        Chart(
            key="tasks_throughput",
            title="Task throughput, last hour",
            note=f"{last_hour['successful']} successful, {last_hour['failed']} failed",
            kind="bar",
            labels=[timezone.localtime(minute["minute"]).strftime("%H:%M") for minute in minutes],
            # Stacked: each minute's bar is its successful runs with the failed ones in red on top.
            series=[
                Series(label="Successful", values=[minute["successful"] for minute in minutes]),
                Series(label="Failed", values=[minute["failed"] for minute in minutes], colour="var(--color-red-600)"),
            ],
            stacked=True,
            link=dashboard,
            link_title="Tasks dashboard",
        ),
        Links(
            key=SHORTCUTS,
            title="Shortcuts",
            links=[Link(title="Tasks dashboard", url=dashboard, icon="monitoring", description="Counts, failures")],
        ),
    ]
