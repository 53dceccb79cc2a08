"""`manage.py agent_stats [--days N]`: per agent, its runs by status, tokens, cost and average duration; per tool,
its calls, failures and average time; and the calls waiting for a staff decision."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import IO, Any, cast

from django.core.management.base import CommandError, CommandParser
from django.db.models import Avg, Count, Q, Sum
from django.utils import timezone
from rich.console import Console
from rich.table import Table

from apps.agents.models import AgentDefinition, AgentRun, RunStatus, ToolCall, ToolCallStatus
from apps.agents.selectors import pending_approvals
from cfg.management.base import ProjectCommand


def _cost(value: Decimal | None) -> str:
    return "—" if value is None else f"${value:,.4f}"


def _seconds(ms: float | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.1f} s"


class Command(ProjectCommand):
    help = (
        "Agent figures over the last N days: runs by status, tokens, cost and average duration per agent; calls, "
        "failures and average time per tool; and the tool calls waiting for approval."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30, help="How many days back (default 30)")
        parser.add_argument("--agent", metavar="NAME", help="Only this agent")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days < 1:
            raise CommandError("--days must be 1 or more")
        since = timezone.now() - timedelta(days=days)
        runs = AgentRun.objects.filter(created_at__gte=since)
        calls = ToolCall.objects.filter(created_at__gte=since)
        waiting = pending_approvals()
        if options["agent"]:
            if not AgentDefinition.objects.filter(name=options["agent"]).exists():
                raise CommandError(f"no agent named {options['agent']!r}")
            runs = runs.filter(agent__name=options["agent"])
            calls = calls.filter(run__agent__name=options["agent"])
            waiting = waiting.filter(run__agent__name=options["agent"])
        console = Console(file=cast(IO[str], self.stdout), width=160)

        by_status = {status: Count("pk", filter=Q(status=status)) for status in RunStatus}
        per_agent = (
            runs.values("agent__name")
            .annotate(
                total=Count("pk"),
                input=Sum("input_tokens"),
                output=Sum("output_tokens"),
                cost=Sum("cost"),
                duration=Avg("duration_ms", filter=Q(status__in=(RunStatus.SUCCEEDED, RunStatus.FAILED))),
                calls_made=Sum("tool_calls_count"),
                **{f"status_{status.value}": count for status, count in by_status.items()},
            )
            .order_by("agent__name")
        )
        pending = dict(
            waiting.values_list("run__agent__name").annotate(count=Count("pk")).values_list("run__agent__name", "count")
        )
        table = Table(
            "agent",
            "runs",
            *[status.label.lower() for status in RunStatus],
            "tokens in",
            "tokens out",
            "cost",
            "avg duration",
            "tool calls",
            "pending approvals",
            title=f"Runs in the last {days} days",
            title_justify="left",
        )
        for agent_row in per_agent:
            row: dict[str, Any] = dict(agent_row)
            table.add_row(
                row["agent__name"],
                str(row["total"]),
                *[str(row[f"status_{status.value}"]) for status in RunStatus],
                f"{row['input'] or 0:,}",
                f"{row['output'] or 0:,}",
                _cost(row["cost"]),
                _seconds(row["duration"]),
                str(row["calls_made"] or 0),
                str(pending.get(row["agent__name"], 0)),
            )
        if not per_agent:
            table.add_row("(no runs)", *[""] * (len(RunStatus) + 6))
        console.print(table)

        per_tool = (
            calls.values("run__agent__name", "tool")
            .annotate(
                total=Count("pk"),
                failed=Count("pk", filter=Q(status=ToolCallStatus.FAILED)),
                denied=Count("pk", filter=Q(status=ToolCallStatus.DENIED)),
                duration=Avg("duration_ms", filter=Q(status__in=(ToolCallStatus.SUCCEEDED, ToolCallStatus.FAILED))),
            )
            .order_by("run__agent__name", "-total", "tool")
        )
        tools = Table(
            "agent",
            "tool",
            "calls",
            "failed",
            "denied",
            "avg ms",
            title=f"Tool calls in the last {days} days",
            title_justify="left",
        )
        for tool_row in per_tool:
            tools.add_row(
                tool_row["run__agent__name"],
                tool_row["tool"],
                str(tool_row["total"]),
                str(tool_row["failed"]),
                str(tool_row["denied"]),
                "—" if tool_row["duration"] is None else f"{tool_row['duration']:.0f}",
            )
        if not per_tool:
            tools.add_row("(no tool calls)", "", "", "", "", "")
        console.print(tools)

        count = waiting.count()
        if count:
            console.print(
                f"[yellow]{count} tool call(s) wait for a staff decision (any age): admin, Pending approvals.[/]"
            )
