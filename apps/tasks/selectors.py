"""Read queries for the dashboard, the API and task_status."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncMinute
from django.tasks import TaskResultStatus
from django.utils import timezone

from apps.tasks.models import TaskRun


def status_counts() -> dict[str, int]:
    counts = dict.fromkeys(TaskResultStatus.values, 0)
    for row in TaskRun.objects.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def throughput_last_hour(now: datetime | None = None) -> dict[str, Any]:
    """Runs that finished in the last 60 minutes, per minute (oldest first, empty minutes included)."""
    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0)
    start = end - timedelta(minutes=59)
    rows = (
        TaskRun.objects.filter(finished_at__gte=start)
        .order_by()
        .annotate(minute=TruncMinute("finished_at"))
        .values("minute")
        .annotate(
            successful=Count("pk", filter=Q(status=TaskResultStatus.SUCCESSFUL)),
            failed=Count("pk", filter=Q(status=TaskResultStatus.FAILED)),
        )
    )
    by_minute = {row["minute"]: row for row in rows}
    minutes = []
    for offset in range(60):
        minute = start + timedelta(minutes=offset)
        row: Mapping[str, Any] = by_minute.get(minute, {})
        minutes.append({"minute": minute, "successful": row.get("successful", 0), "failed": row.get("failed", 0)})
    successful = sum(minute["successful"] for minute in minutes)
    failed = sum(minute["failed"] for minute in minutes)
    return {"successful": successful, "failed": failed, "per_minute": minutes}


def failed_since(since: datetime) -> int:
    return TaskRun.objects.filter(status=TaskResultStatus.FAILED, finished_at__gte=since).count()


def recent_failures(limit: int = 20) -> QuerySet[TaskRun]:
    return TaskRun.objects.filter(status=TaskResultStatus.FAILED).order_by("-finished_at")[:limit]


def stats(now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    by_status = status_counts()
    return {
        "by_status": by_status,
        "total": sum(by_status.values()),
        "running": by_status[TaskResultStatus.RUNNING],
        "failed_last_24h": failed_since(now - timedelta(hours=24)),
        "last_hour": throughput_last_hour(now),
    }
