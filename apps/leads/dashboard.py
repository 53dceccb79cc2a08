"""The leads app's cards on the admin dashboard (AppSpec.dashboard in cfg/catalog.py): new leads this week, and
conversion (won of all leads) overall and by source."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse

from apps.leads import selectors
from apps.leads.models import Status
from modules.unfold.dashboard import SHORTCUTS, Card, Chart, Link, Links, Series, Stat

SOURCES_SHOWN = 8


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


def lead_cards(request: HttpRequest) -> list[Card]:
    if not request.user.has_perm("leads.view_lead"):
        return []
    changelist = reverse("admin:leads_lead_changelist")
    week = selectors.week_start()
    sources = selectors.conversion_by_source()
    total = sum(row.total for row in sources)
    won = sum(row.won for row in sources)
    shown = sources[:SOURCES_SHOWN]
    return [
        Stat(
            key="leads_new_this_week",
            title="New leads this week",
            value=selectors.new_leads_since(week),
            note=f"Since Monday {week:%d %b}",
            link=f"{changelist}?{urlencode({'created_at__gte': week.isoformat()})}",
        ),
        Stat(
            key="leads_conversion",
            title="Lead conversion",
            value=percent(won, total),
            note=f"{won} won of {total} leads",
            link=f"{changelist}?status__exact={Status.WON}",
        ),
        Chart(
            key="leads_conversion_by_source",
            title="Conversion by source",
            labels=[f"{row.source} ({percent(row.won, row.total)})" for row in shown],
            series=[
                Series(label="Leads", values=[row.total for row in shown], colour="var(--color-base-400)"),
                Series(label="Won", values=[row.won for row in shown]),
            ],
            kind="bar",
            note=f"Won of all leads, per source (the {SOURCES_SHOWN} with most leads)",
            link=reverse("admin:leads_lead_board"),
            link_title="Board",
        ),
        Links(
            key=SHORTCUTS,
            title="Shortcuts",
            links=[
                Link(
                    title="Leads board",
                    url=reverse("admin:leads_lead_board"),
                    icon="view_kanban",
                    description="Leads by status: new, contacted, qualified, won, lost",
                )
            ],
        ),
    ]
