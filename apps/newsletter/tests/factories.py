"""Objects for tests: lists, subscribers and subscriptions with sensible defaults, campaigns with templates that use
every variable, audiences of any size, and users with their API clients."""

from __future__ import annotations

from itertools import count
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient

from apps.newsletter.models import Campaign, MailingList, Subscriber, Subscription, SubscriptionStatus

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
CAMPAIGN_PERMISSIONS = ("view_campaign", "add_campaign", "change_campaign", "delete_campaign")


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


def campaign_create(**fields: Any) -> Campaign:
    fields.setdefault("name", f"Campaign {next(_sequence)}")
    if "mailing_list" not in fields:
        fields["mailing_list"] = mailing_list_create()
    fields.setdefault("subject", SUBJECT)
    fields.setdefault("html_body", HTML)
    fields.setdefault("text_body", TEXT)
    return Campaign.objects.create(**fields)


def user_create(email: str | None = None, **fields: Any) -> Any:
    return get_user_model().objects.create_user(email=email or f"user{next(_sequence)}@example.com", **fields)


def signed_in(user: Any) -> APIClient:
    """An API client authenticated as the user, who stays at hand as its `user`."""
    client = APIClient()
    client.force_authenticate(user)
    client.user = user  # type: ignore[attr-defined]
    return client


def grant(user: Any, *codenames: str) -> None:
    """Give the user these permissions of the newsletter app (and forget the cached ones)."""
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="newsletter", codename__in=codenames))
    for cache in ("_perm_cache", "_user_perm_cache"):
        user.__dict__.pop(cache, None)
