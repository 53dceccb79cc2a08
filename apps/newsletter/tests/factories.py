"""Audience objects for tests: lists, subscribers and subscriptions with sensible defaults."""

from __future__ import annotations

from itertools import count
from typing import Any

from django.utils import timezone

from apps.newsletter.models import MailingList, Subscriber, Subscription, SubscriptionStatus

_sequence = count(1)


def mailing_list_create(**fields: Any) -> MailingList:
    number = next(_sequence)
    fields.setdefault("name", f"List {number}")
    fields.setdefault("slug", f"list-{number}")
    return MailingList.objects.create(**fields)


def subscriber_create(**fields: Any) -> Subscriber:
    fields.setdefault("email", f"subscriber{next(_sequence)}@example.com")
    return Subscriber.objects.create(**fields)


def subscription_create(
    *,
    subscriber: Subscriber | None = None,
    mailing_list: MailingList | None = None,
    status: str = SubscriptionStatus.CONFIRMED,
    **fields: Any,
) -> Subscription:
    now = timezone.now()
    if status == SubscriptionStatus.CONFIRMED:
        fields.setdefault("confirmed_at", now)
    if status == SubscriptionStatus.UNSUBSCRIBED:
        fields.setdefault("unsubscribed_at", now)
    return Subscription.objects.create(
        subscriber=subscriber or subscriber_create(),
        mailing_list=mailing_list or mailing_list_create(),
        status=status,
        **fields,
    )
