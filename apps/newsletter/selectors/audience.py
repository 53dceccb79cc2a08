"""Reads of the audience: who may be mailed, the public lists, a subscriber's subscriptions."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower

from apps.newsletter.models import (
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)


def normalized_email(email: str) -> str:
    """The form every address is compared and suppressed in: trimmed, lower case."""
    return email.strip().lower()


def is_suppressed(*, email: str) -> bool:
    """The address is on the suppression list (case-insensitive): nothing may be sent to it."""
    return Suppression.objects.filter(email=normalized_email(email)).exists()


def sendable_subscriptions(*, mailing_list: MailingList) -> QuerySet[Subscription]:
    """The confirmed subscriptions of the list whose address is not suppressed, with their subscribers.

    Sending must still check is_suppressed() for each message at the moment it goes out: a bounce or a complaint
    may arrive while a campaign is being sent."""
    suppressed = Suppression.objects.filter(email=Lower(OuterRef("subscriber__email")))
    return (
        Subscription.objects.filter(mailing_list=mailing_list, status=SubscriptionStatus.CONFIRMED)
        .exclude(Exists(suppressed))
        .select_related("subscriber")
        .order_by("pk")
    )


def public_lists() -> QuerySet[MailingList]:
    return MailingList.objects.filter(is_public=True).order_by("name")


def mailing_lists_with_counts() -> QuerySet[MailingList]:
    """Every list with its number of subscriptions in each status (one query)."""
    return MailingList.objects.annotate(
        pending_count=Count("subscriptions", filter=Q(subscriptions__status=SubscriptionStatus.PENDING)),
        confirmed_count=Count("subscriptions", filter=Q(subscriptions__status=SubscriptionStatus.CONFIRMED)),
        unsubscribed_count=Count("subscriptions", filter=Q(subscriptions__status=SubscriptionStatus.UNSUBSCRIBED)),
    )


def subscriber_by_email(*, email: str) -> Subscriber | None:
    return Subscriber.objects.filter(email__iexact=email.strip()).first()


def subscriber_of_user(*, user: AbstractBaseUser) -> Subscriber | None:
    """The subscriber linked to the user, else the one with the user's email address (the account's address is
    proven by its sign-in codes, so its owner may manage that address's subscriptions)."""
    linked = Subscriber.objects.filter(user_id=user.pk).order_by("pk").first()
    email = getattr(user, user.get_email_field_name(), None)
    if linked is not None or not email:
        return linked
    return subscriber_by_email(email=email)


def subscriptions_of(*, subscriber: Subscriber) -> QuerySet[Subscription]:
    return (
        Subscription.objects.filter(subscriber=subscriber).select_related("mailing_list").order_by("mailing_list__name")
    )


def consents_of(*, subscriber: Subscriber) -> QuerySet[ConsentRecord]:
    return ConsentRecord.objects.filter(subscriber=subscriber).select_related("mailing_list").order_by("created_at")
