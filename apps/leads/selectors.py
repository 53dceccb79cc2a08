"""Read queries of leads. Staff see every lead: the pipeline is the team's, not one person's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.leads.models import Lead, LeadNote, LeadTouch, Status, StatusChange

NO_SOURCE = "(none)"
# What working on leads takes, in the admin and the API alike: reading them, and changing them (status, assignee,
# notes).
VIEW_PERMISSION = "leads.view_lead"
CHANGE_PERMISSION = "leads.change_lead"


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def lead_list(
    *,
    status: str | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    source: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    query: str | None = None,
) -> QuerySet[Lead]:
    """Leads, newest first, with their assignee; `created_from` and `created_to` are whole days, both included."""
    leads = Lead.objects.select_related("assignee")
    if status:
        leads = leads.filter(status=status)
    if unassigned:
        leads = leads.filter(assignee__isnull=True)
    elif assignee_id is not None:
        leads = leads.filter(assignee_id=assignee_id)
    if source is not None:
        leads = leads.filter(source=source)
    # Days in the site's time zone, compared by the database: any valid day, 9999-12-31 included, is a filter.
    if created_from is not None:
        leads = leads.filter(created_at__date__gte=created_from)
    if created_to is not None:
        leads = leads.filter(created_at__date__lte=created_to)
    if query:
        leads = leads.filter(Q(name__icontains=query) | Q(email__icontains=query) | Q(company__icontains=query))
    return leads.order_by("-created_at", "-id")


def lead_workers() -> QuerySet[Any]:
    """Who may be given leads: active staff members who may change them (superusers, or by their own or a group's
    permission), as the admin lets them. Staff of other teams could not open a lead they were given."""
    app_label, codename = CHANGE_PERMISSION.split(".")
    may_change = (
        Q(is_superuser=True)
        | Q(user_permissions__content_type__app_label=app_label, user_permissions__codename=codename)
        | Q(groups__permissions__content_type__app_label=app_label, groups__permissions__codename=codename)
    )
    workers = get_user_model().objects.filter(is_staff=True, is_active=True).filter(may_change)
    return get_user_model().objects.filter(pk__in=workers.values("pk"))


def lead_find(*, lead_id: int) -> Lead | None:
    return Lead.objects.filter(pk=lead_id).first()


def lead_get(*, lead_id: int) -> Lead | None:
    """The lead with its touches, notes (with their authors) and status history (with who changed it)."""
    return (
        Lead.objects.select_related("assignee")
        .prefetch_related(
            Prefetch("touches", queryset=LeadTouch.objects.order_by("-created_at", "-id")),
            Prefetch("notes", queryset=LeadNote.objects.select_related("author").order_by("-created_at", "-id")),
            Prefetch(
                "history", queryset=StatusChange.objects.select_related("changed_by").order_by("-changed_at", "-id")
            ),
        )
        .filter(pk=lead_id)
        .first()
    )


def counts_by_status(*, since: datetime | None = None) -> dict[str, int]:
    """Leads per status, every status listed (0 when none): one query."""
    leads = Lead.objects.order_by()
    if since is not None:
        leads = leads.filter(created_at__gte=since)
    counted = dict(leads.values_list("status").annotate(count=Count("pk")))
    return {status: int(counted.get(status, 0)) for status in Status.values}


@dataclass(frozen=True)
class SourceConversion:
    source: str
    total: int
    won: int
    lost: int

    @property
    def conversion(self) -> float:
        """Won leads of all leads from the source (open ones included), 0 to 1."""
        return self.won / self.total if self.total else 0.0


def conversion_by_source(*, since: datetime | None = None) -> list[SourceConversion]:
    """Leads, won and lost per source (empty as NO_SOURCE), most leads first: one query."""
    leads = Lead.objects.order_by()
    if since is not None:
        leads = leads.filter(created_at__gte=since)
    rows = leads.values("source").annotate(
        total=Count("pk"), won=Count("pk", filter=Q(status=Status.WON)), lost=Count("pk", filter=Q(status=Status.LOST))
    )
    result = [SourceConversion(row["source"] or NO_SOURCE, row["total"], row["won"], row["lost"]) for row in rows]
    return sorted(result, key=lambda row: (-row.total, row.source))


def new_leads_since(moment: datetime) -> int:
    return Lead.objects.filter(created_at__gte=moment).count()


def week_start(now: datetime | None = None) -> datetime:
    """Monday 00:00 of this week, in the site's time zone."""
    local = timezone.localtime(now)
    return _start_of(local.date() - timedelta(days=local.weekday()))


def board_columns(*, per_column: int) -> list[dict[str, Any]]:
    """The board: per status its count and its latest `per_column` leads (one query per status, bounded)."""
    counts = counts_by_status()
    columns = []
    for status in Status:
        leads = list(Lead.objects.filter(status=status).select_related("assignee").order_by("-created_at")[:per_column])
        columns.append({"status": status.value, "label": status.label, "count": counts[status.value], "leads": leads})
    return columns


def telegram_configured() -> bool:
    return bool(settings.LEADS["TELEGRAM_CHAT_ID"] and getattr(settings, "TELEGRAM", {}).get("BOT_TOKEN"))
