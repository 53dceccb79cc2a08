"""Reads of campaigns: lists with their statistics in one query, one campaign's statistics, the dashboard's figures.

Statistics come from the send log and the tracking rows, never from counters that could drift:
sent, failed, suppressed, skipped, pending (pending or being sent), recipients (all rows); opens (recipients who
opened), opens_total; unique_clicks (distinct recipient and link), clickers (recipients who clicked), clicks_total;
unsubscribes (recipients who unsubscribed from this campaign's mail)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from apps.newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, TrackingEvent, TrackingKind

STAT_FIELDS = (
    "recipients",
    "pending",
    "sent",
    "failed",
    "suppressed",
    "skipped",
    "opens",
    "opens_total",
    "unique_clicks",
    "clickers",
    "clicks_total",
    "unsubscribes",
)
UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


def _delivery_count(condition: Q | None = None) -> Coalesce:
    rows = Delivery.objects.filter(campaign=OuterRef("pk"))
    if condition is not None:
        rows = rows.filter(condition)
    counted = rows.order_by().values("campaign").annotate(total=Count("pk")).values("total")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _event_figure(kind: str, figure: Any) -> Coalesce:
    events = TrackingEvent.objects.filter(delivery__campaign=OuterRef("pk"), kind=kind)
    counted = events.order_by().values("delivery__campaign").annotate(total=figure).values("total")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def with_stats(campaigns: QuerySet[Campaign]) -> QuerySet[Campaign]:
    """Each campaign with STAT_FIELDS as attributes, in the same single query."""
    return campaigns.annotate(
        recipients=_delivery_count(),
        pending=_delivery_count(Q(status__in=UNFINISHED)),
        sent=_delivery_count(Q(status=DeliveryStatus.SENT)),
        failed=_delivery_count(Q(status=DeliveryStatus.FAILED)),
        suppressed=_delivery_count(Q(status=DeliveryStatus.SUPPRESSED)),
        skipped=_delivery_count(Q(status=DeliveryStatus.SKIPPED)),
        opens=_event_figure(TrackingKind.OPEN, Count("pk")),
        opens_total=_event_figure(TrackingKind.OPEN, Sum("count")),
        unique_clicks=_event_figure(TrackingKind.CLICK, Count("pk")),
        clickers=_event_figure(TrackingKind.CLICK, Count("delivery", distinct=True)),
        clicks_total=_event_figure(TrackingKind.CLICK, Sum("count")),
        unsubscribes=_event_figure(TrackingKind.UNSUBSCRIBE, Count("pk")),
    )


def campaign_list(*, status: str | None = None) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.select_related("mailing_list", "created_by")
    if status:
        campaigns = campaigns.filter(status=status)
    return with_stats(campaigns).order_by("-created_at", "-id")


def campaign_get(*, campaign_id: int) -> Campaign | None:
    return campaign_list().filter(pk=campaign_id).first()


def campaign_find(*, reference: str) -> Campaign | None:
    """A campaign by id, or else by its exact name (the most recent of that name)."""
    campaigns = campaign_list()
    if reference.isdigit():
        found = campaigns.filter(pk=int(reference)).first()
        if found is not None:
            return found
    return campaigns.filter(name=reference).first()


def stats_of(campaign: Campaign) -> dict[str, Any]:
    """The statistics of a campaign read by campaign_list/campaign_get, with the rates (of the messages sent)."""
    figures: dict[str, Any] = {name: int(getattr(campaign, name, 0) or 0) for name in STAT_FIELDS}
    sent = figures["sent"]
    figures["open_rate"] = round(figures["opens"] / sent, 4) if sent else None
    figures["click_rate"] = round(figures["clickers"] / sent, 4) if sent else None
    return figures


def rate_text(rate: float | None) -> str:
    """A rate of stats_of() as people read it: a percentage with one decimal, or a dash when nothing was sent."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


def campaign_stats(*, campaign: Campaign) -> dict[str, Any]:
    fresh = campaign_get(campaign_id=campaign.pk)
    return stats_of(fresh) if fresh is not None else {}


def campaigns_sending_count() -> int:
    return Campaign.objects.filter(status=CampaignStatus.SENDING).count()


def last_sent_campaign() -> Campaign | None:
    """The campaign that finished sending last, with its statistics."""
    return (
        with_stats(Campaign.objects.filter(status=CampaignStatus.SENT, finished_at__isnull=False))
        .order_by("-finished_at", "-id")
        .first()
    )
