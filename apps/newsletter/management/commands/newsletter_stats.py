from __future__ import annotations

import json
from typing import IO, Any, cast

from django.core.management.base import CommandParser
from rich.console import Console
from rich.table import Table

from apps.newsletter.models import CampaignStatus
from apps.newsletter.selectors.campaigns import campaign_list, rate_text, stats_of
from cfg.management.base import ProjectCommand

SHOWN = 50


class Command(ProjectCommand):
    help = (
        "Campaign statistics, newest first: status, recipients, sent, failed, pending, opens, clicks and "
        "unsubscribes (--json for every campaign as JSON)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON: a list of campaigns with their figures")
        parser.add_argument("--status", choices=CampaignStatus.values, help="Only campaigns in this status")

    def handle(self, *args: Any, **options: Any) -> None:
        campaigns = campaign_list(status=options["status"])
        if options["json"]:
            rows = [
                {
                    "id": campaign.pk,
                    "name": campaign.name,
                    "status": campaign.status,
                    "mailing_list": campaign.mailing_list.slug,
                    "started_at": campaign.started_at.isoformat() if campaign.started_at else None,
                    "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
                    **stats_of(campaign),
                }
                for campaign in campaigns
            ]
            self.stdout.write(json.dumps(rows, indent=2))
            return
        console = Console(file=cast(IO[str], self.stdout), width=140)
        count = campaigns.count()
        if not count:
            console.print("No campaigns yet.")
            return
        table = Table(
            "id",
            "campaign",
            "status",
            "recipients",
            "sent",
            "failed",
            "pending",
            "opens",
            "clicked",
            "unsubscribed",
            title=f"Campaigns: {count}",
            title_justify="left",
        )
        for campaign in campaigns[:SHOWN]:
            stats = stats_of(campaign)
            table.add_row(
                str(campaign.pk),
                campaign.name[:40],
                campaign.get_status_display(),
                f"{stats['recipients']:,}",
                f"{stats['sent']:,}",
                f"{stats['failed']:,}",
                f"{stats['pending']:,}",
                f"{stats['opens']:,} ({rate_text(stats['open_rate'])})",
                f"{stats['clickers']:,} ({rate_text(stats['click_rate'])})",
                f"{stats['unsubscribes']:,}",
            )
        console.print(table)
        if count > SHOWN:
            console.print(f"… and {count - SHOWN} more (--json lists them all)")
