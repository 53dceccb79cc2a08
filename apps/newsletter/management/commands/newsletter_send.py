from __future__ import annotations

from typing import IO, Any, cast

from django.core.management.base import CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from apps.newsletter import sending, tasks
from apps.newsletter.exceptions import NewsletterError
from apps.newsletter.models import Campaign, CampaignStatus, Delivery
from apps.newsletter.selectors.campaigns import UNFINISHED, campaign_find
from apps.newsletter.services import campaigns as services
from cfg.management.base import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Send a campaign (by id or name): a draft or scheduled campaign is started, a paused one resumed. By default "
        "the tasks queue sends it (a worker must run); --now sends it here, in this process, with a progress bar. "
        "--due starts every scheduled campaign whose time has come and queues again every sending campaign that "
        "stalled (no progress for NEWSLETTER__STALL_SECONDS). Exits 1 with a reason when it cannot."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", nargs="?", help="The campaign's id or exact name")
        parser.add_argument("--now", action="store_true", help="Send in this process rather than through the queue")
        parser.add_argument(
            "--due",
            action="store_true",
            help="Start the scheduled campaigns that are due, queue stalled sending ones again",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        console = Console(file=cast(IO[str], self.stdout), width=120)
        if options["due"]:
            caught_up = tasks.send_due_campaigns.call()
            console.print(f"{caught_up['started']} scheduled campaign(s) started")
            console.print(f"{caught_up['restarted']} stalled sending campaign(s) queued again")
            if not options["campaign"]:
                return
        if not options["campaign"]:
            raise CommandError("name the campaign to send (its id or name), or give --due")
        campaign = campaign_find(reference=options["campaign"])
        if campaign is None:
            raise CommandError(f"no campaign {options['campaign']!r} (give its id or exact name)")
        self._start(campaign, inline=options["now"])
        if not options["now"]:
            console.print(f"“{campaign.name}” (#{campaign.pk}) is queued: a worker sends it; follow it in the admin")
            return
        self._send_here(campaign, console)

    def _start(self, campaign: Campaign, *, inline: bool) -> None:
        try:
            if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
                services.campaign_send_now(campaign=campaign, enqueue=not inline)
            elif campaign.status == CampaignStatus.PAUSED or (campaign.status == CampaignStatus.SENDING and not inline):
                services.campaign_resume(campaign=campaign, enqueue=not inline)
            elif campaign.status != CampaignStatus.SENDING:
                raise CommandError(
                    f"“{campaign.name}” is {campaign.get_status_display().lower()}: nothing to send "
                    "(a draft, scheduled, paused or sending campaign can be sent)"
                )
        except NewsletterError as error:
            raise CommandError(error.message) from None

    def _send_here(self, campaign: Campaign, console: Console) -> None:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=cast(IO[str], self.stderr)),
            transient=True,
        )
        totals: dict[str, int] = {}
        with progress:
            bar = progress.add_task(f"sending {campaign.name}", total=None)

            def advance(status: str) -> None:
                totals[status] = totals.get(status, 0) + 1
                progress.advance(bar)

            while True:
                try:
                    outcome = sending.send_batch(campaign_id=campaign.pk, on_message=advance)
                except sending.MailServerUnavailable as error:
                    raise CommandError(f"{error}; the campaign stays sending: run this again to go on") from None
                if outcome.busy:
                    raise CommandError("another sender (a worker, or this command elsewhere) is sending it now")
                rows = Delivery.objects.filter(campaign=campaign)
                done = rows.exclude(status__in=UNFINISHED).count()
                progress.update(bar, total=rows.count(), completed=done)
                if not outcome.more:
                    break
        summary = ", ".join(f"{status} {count}" for status, count in sorted(totals.items())) or "nothing to send"
        console.print(f"“{campaign.name}”: {summary}; the campaign is {outcome.status or 'gone'}")
        if outcome.status != CampaignStatus.SENT:
            raise CommandError(f"the campaign is {outcome.status}, not sent (paused or cancelled meanwhile)")
