"""The support app's cards on the admin dashboard (AppSpec.dashboard in cfg/catalog.py): open tickets, tickets in
breach of their SLA now, and the median time to the first response this week."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from apps.support import selectors
from apps.support.models import ACTIVE_STATUSES
from modules.unfold.dashboard import SHORTCUTS, Card, Link, Links, Stat


def week_start(now: datetime | None = None) -> datetime:
    """Monday 00:00 of this week, in the site's time zone."""
    local = timezone.localtime(now)
    monday = local.date() - timedelta(days=local.weekday())
    return timezone.make_aware(datetime.combine(monday, time.min), timezone.get_current_timezone())


def duration(seconds: float | None) -> str:
    """A median time as people say it: under 1 min, 42 min, 3 h 5 min, 2 d 4 h."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def support_cards(request: HttpRequest) -> list[Card]:
    if not request.user.has_perm(selectors.VIEW_PERMISSION):
        return []
    queue = reverse("admin:support_ticket_changelist")
    week = week_start()
    stats = selectors.support_stats(since=week)
    open_total = int(stats["open_total"])
    breached = int(stats["open_breached"]["any"])
    first_responses = int(stats["first_responses"])
    by_status = ", ".join(
        f"{count} {status.replace('_', ' ')}" for status, count in stats["open_by_status"].items() if count
    )
    active = urlencode([("status__in", ",".join(ACTIVE_STATUSES))])
    return [
        Stat(
            key="support_open_tickets",
            title="Open tickets",
            value=open_total,
            note=by_status or "None waiting",
            link=f"{queue}?{active}",
        ),
        Stat(
            key="support_breached_now",
            title="SLA breached now",
            value=breached,
            note="Open tickets past a first response or resolution target",
            link=f"{queue}?{active}&breached=yes",
            alert=breached > 0,
        ),
        Stat(
            key="support_median_first_response",
            title="Median first response this week",
            value=duration(stats["median_first_response_seconds"]),
            note=f"{first_responses} first response{'s' if first_responses != 1 else ''} since Monday {week:%d %b}",
            link=f"{queue}?{urlencode({'created_at__gte': week.isoformat()})}",
        ),
        Links(
            key=SHORTCUTS,
            title="Shortcuts",
            links=[
                Link(
                    title="Ticket queue",
                    url=queue,
                    icon="support_agent",
                    description="Tickets by nearest SLA due time, with their chat pages",
                )
            ],
        ),
    ]
