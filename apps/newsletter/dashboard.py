"""The newsletter's cards on the admin dashboard (AppSpec.dashboard in cfg/catalog.py): confirmed subscribers,
campaigns being sent, and the open and click rates of the last campaign sent."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from apps.newsletter.models import CampaignStatus, Subscriber, SubscriptionStatus
from apps.newsletter.selectors.campaigns import campaigns_sending_count, last_sent_campaign, rate_text, stats_of
from modules.unfold.dashboard import Card, Stat


def newsletter_cards(request: HttpRequest) -> list[Card]:
    if not request.user.has_perm("newsletter.view_campaign"):
        return []
    campaigns = reverse("admin:newsletter_campaign_changelist")
    confirmed = Subscriber.objects.filter(subscriptions__status=SubscriptionStatus.CONFIRMED).distinct().count()
    sending = campaigns_sending_count()
    last = last_sent_campaign()
    cards: list[Card] = [
        Stat(
            key="newsletter_subscribers_confirmed",
            title="Confirmed subscribers",
            value=f"{confirmed:,}",
            note="On at least one list",
            link=reverse("admin:newsletter_subscriber_changelist"),
        ),
        Stat(
            key="newsletter_campaigns_sending",
            title="Campaigns sending",
            value=sending,
            note="Being sent now",
            link=f"{campaigns}?status__exact={CampaignStatus.SENDING}",
        ),
    ]
    if last is None:
        cards.append(Stat(key="newsletter_last_campaign", title="Last campaign", value="—", note="None sent yet"))
        return cards
    stats = stats_of(last)
    link = reverse("admin:newsletter_campaign_change", args=[last.pk])
    cards += [
        Stat(
            key="newsletter_last_open_rate",
            title="Last campaign: opens",
            value=rate_text(stats["open_rate"]),
            note=f"{last.name}: {stats['opens']:,} of {stats['sent']:,} opened (images shown)",
            link=link,
        ),
        Stat(
            key="newsletter_last_click_rate",
            title="Last campaign: clicks",
            value=rate_text(stats["click_rate"]),
            note=f"{stats['clickers']:,} recipient(s) clicked, {stats['unsubscribes']:,} unsubscribed",
            link=link,
        ),
    ]
    return cards
