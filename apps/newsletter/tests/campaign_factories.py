"""Campaign objects for tests: a draft with templates that use every variable, and audiences of any size."""

from __future__ import annotations

from itertools import count
from typing import Any

from django.utils import timezone

from apps.newsletter.models import (
    Campaign,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from apps.newsletter.tests.factories import mailing_list_create

_sequence = count(1)

SUBJECT = "News for {{ subscriber.name|default:'you' }}"
HTML = (
    "<html><body><p>Hello {{ subscriber.name }},</p>"
    '<p><a href="https://example.com/article?id=1&amp;ref=mail">Read the article</a></p>'
    '<p><a href="mailto:help@example.com">Write to us</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a> · <a href="{{ preferences_url }}">Preferences</a></p>'
    "</body></html>"
)
TEXT = "Hello {{ subscriber.name }},\nRead: https://example.com/article?id=1\nUnsubscribe: {{ unsubscribe_url }}\n"


def campaign_create(**fields: Any) -> Campaign:
    number = next(_sequence)
    fields.setdefault("name", f"Campaign {number}")
    if "mailing_list" not in fields:
        fields["mailing_list"] = mailing_list_create()
    fields.setdefault("subject", SUBJECT)
    fields.setdefault("html_body", HTML)
    fields.setdefault("text_body", TEXT)
    return Campaign.objects.create(**fields)


def audience_create(mailing_list: MailingList, size: int, *, prefix: str = "reader") -> list[Subscription]:
    """`size` confirmed subscribers of the list, in two queries."""
    batch = next(_sequence)
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=f"{prefix}{batch}-{index}@example.com", name=f"Reader {index}") for index in range(size)
    )
    now = timezone.now()
    return Subscription.objects.bulk_create(
        Subscription(
            subscriber=subscriber, mailing_list=mailing_list, status=SubscriptionStatus.CONFIRMED, confirmed_at=now
        )
        for subscriber in subscribers
    )
