"""The agents app's cards on the admin dashboard (AppSpec.dashboard in cfg/catalog.py): runs today, failures in the
last 24 hours, tool calls waiting for a staff decision, and this month's tokens and cost."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from apps.agents.models import AgentRun, RunStatus
from apps.agents.selectors import pending_approvals
from modules.unfold.dashboard import Card, Stat


def run_figures(now: datetime | None = None) -> dict[str, Any]:
    """Runs started today (local time), runs that failed in the last 24 hours, and this month's tokens and cost, in
    one query. The cost is None when no run of the month has one (no prices known)."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month = midnight.replace(day=1)
    this_month = Q(created_at__gte=month)
    figures = AgentRun.objects.aggregate(
        today=Count("pk", filter=Q(created_at__gte=midnight)),
        failed=Count("pk", filter=Q(status=RunStatus.FAILED, finished_at__gte=now - timedelta(hours=24))),
        input_tokens=Sum("input_tokens", filter=this_month, default=0),
        output_tokens=Sum("output_tokens", filter=this_month, default=0),
        cost=Sum("cost", filter=this_month),
    )
    return figures


def _money(cost: Decimal) -> str:
    return f"${cost:,.4f}" if cost < 100 else f"${cost:,.2f}"


def agent_cards(request: HttpRequest) -> list[Card]:
    if not request.user.has_perm("agents.view_agentrun"):
        return []
    runs = reverse("admin:agents_agentrun_changelist")
    figures = run_figures()
    waiting = pending_approvals().count()
    tokens_in, tokens_out = int(figures["input_tokens"]), int(figures["output_tokens"])
    cost = figures["cost"]
    return [
        Stat(
            key="agents_runs_today",
            title="Agent runs today",
            value=int(figures["today"]),
            note="Started since midnight",
            link=runs,
        ),
        Stat(
            key="agents_failed",
            title="Failed runs (24 h)",
            value=int(figures["failed"]),
            note="See each run's error",
            link=f"{runs}?status__exact={RunStatus.FAILED}",
            alert=bool(figures["failed"]),
        ),
        Stat(
            key="agents_waiting",
            title="Waiting for approval",
            value=waiting,
            note="Tool calls waiting for a staff decision",
            link=reverse("admin:agents_pendingapproval_changelist"),
            alert=bool(waiting),
        ),
        Stat(
            key="agents_tokens_month",
            title="Agent tokens this month",
            value=f"{tokens_in + tokens_out:,}",
            note=f"{tokens_in:,} in, {tokens_out:,} out",
        ),
        Stat(
            key="agents_cost_month",
            title="Agent cost this month",
            value="—" if cost is None else _money(cost),
            note="No run priced: set LLM__PRICE_* or use a provider that reports cost"
            if cost is None
            else "US dollars, from the configured prices or the provider's report",
        ),
    ]
