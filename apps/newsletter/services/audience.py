"""Writes of the audience: subscribe, confirm, unsubscribe, preferences, suppression, and a subscriber's own data.

Every change a subscriber makes is written down as a ConsentRecord (who, when, from which address and browser, on
which form, with which wording): the evidence GDPR art. 7(1) asks for. The suppression list wins over everything:
a suppressed address is never mailed, not even a confirmation link."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from apps.newsletter import links, signals
from apps.newsletter.exceptions import LinkNoLongerValid
from apps.newsletter.models import (
    ConsentAction,
    ConsentRecord,
    Delivery,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from apps.newsletter.selectors.audience import consents_of, is_suppressed, normalized_email, subscriptions_of
from modules.email.service import send_email

logger = logging.getLogger(__name__)

CONFIRM_TEMPLATE = "newsletter_confirm"
ACTIVE = (SubscriptionStatus.PENDING, SubscriptionStatus.CONFIRMED)
USER_AGENT_CHARS = 500


@dataclass(frozen=True)
class Consent:
    """Where a change comes from, as a ConsentRecord keeps it."""

    source: str
    form_text: str = ""
    ip_address: str | None = None
    user_agent: str = ""

    def record(self, *, subscriber: Subscriber, action: str, mailing_list: MailingList | None = None) -> ConsentRecord:
        return ConsentRecord.objects.create(
            subscriber=subscriber,
            mailing_list=mailing_list,
            action=action,
            source=self.source[:200],
            form_text=self.form_text,
            ip_address=self.ip_address,
            user_agent=self.user_agent[:USER_AGENT_CHARS],
        )


def subscribe(
    *,
    email: str,
    mailing_lists: Iterable[MailingList],
    consent: Consent,
    name: str = "",
    user: AbstractBaseUser | None = None,
) -> None:
    """Someone asked for these lists for this address. The caller answers the same whatever happened here, so that
    nobody learns whether an address is subscribed.

    Lists with double opt-in wait for the link mailed to the address (sent again when asked again, at most once per
    NEWSLETTER["CONFIRM_RESEND_SECONDS"]); the others are confirmed at once. An unsubscribed subscription starts
    over. A suppressed address is left alone: nothing is stored and nothing is sent."""
    email = normalized_email(email)
    if is_suppressed(email=email):
        return
    now = timezone.now()
    with transaction.atomic():
        subscriber, created = _subscriber_locked(email=email)
        changed = []
        # Named by the form only when new: whoever knows an address must not rename its subscriber in our mails.
        if name and created:
            subscriber.name = name
            changed.append("name")
        # Linked only to the account that owns the address: /api/newsletter/me/ shows the linked subscriber's data.
        if user is not None and subscriber.user_id is None and _email_of(user) == email:
            subscriber.user_id = user.pk
            changed.append("user")
        if changed:
            subscriber.save(update_fields=[*changed, "updated_at"])
        awaiting = False
        for mailing_list in mailing_lists:
            subscription, _ = Subscription.objects.get_or_create(subscriber=subscriber, mailing_list=mailing_list)
            if subscription.status == SubscriptionStatus.CONFIRMED:
                continue
            consent.record(subscriber=subscriber, action=ConsentAction.SUBSCRIBED, mailing_list=mailing_list)
            subscription.unsubscribed_at = None
            if mailing_list.double_opt_in:
                subscription.status = SubscriptionStatus.PENDING
                awaiting = True
            else:
                subscription.status = SubscriptionStatus.CONFIRMED
                subscription.confirmed_at = now
                consent.record(subscriber=subscriber, action=ConsentAction.CONFIRMED, mailing_list=mailing_list)
            subscription.save(update_fields=["status", "confirmed_at", "unsubscribed_at"])
        if awaiting:
            _mail_confirmation(subscriber=subscriber, now=now)


def resend_confirmation(*, subscriber: Subscriber) -> None:
    """Mail the link again (an expired one was followed), within the same bounds as a new request."""
    if is_suppressed(email=subscriber.email):
        return
    with transaction.atomic():
        locked = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        _mail_confirmation(subscriber=locked, now=timezone.now())


def confirm(*, token: links.ConfirmToken, consent: Consent) -> list[Subscription]:
    """Confirm the pending subscriptions the link names. Idempotent: a second click confirms nothing new. Returns
    the subscriptions of the link that are confirmed now (also those confirmed before)."""
    subscriber = Subscriber.objects.filter(key=token.subscriber_key).first()
    if subscriber is None:
        raise LinkNoLongerValid()
    now = timezone.now()
    with transaction.atomic():
        subscriptions = list(
            Subscription.objects.select_for_update()
            .filter(subscriber=subscriber, mailing_list_id__in=token.mailing_list_ids)
            .select_related("mailing_list")
            .order_by("mailing_list__name")
        )
        for subscription in subscriptions:
            if subscription.status != SubscriptionStatus.PENDING:
                continue
            subscription.status = SubscriptionStatus.CONFIRMED
            subscription.confirmed_at = now
            subscription.save(update_fields=["status", "confirmed_at"])
            consent.record(
                subscriber=subscriber, action=ConsentAction.CONFIRMED, mailing_list=subscription.mailing_list
            )
    return [subscription for subscription in subscriptions if subscription.status == SubscriptionStatus.CONFIRMED]


def unsubscribe(*, subscription: Subscription, consent: Consent, campaign_id: int | None = None) -> bool:
    """Unsubscribe at once. Idempotent: False (and no record, no signal) when it was unsubscribed already."""
    with transaction.atomic():
        locked = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("subscriber", "mailing_list")
            .filter(pk=subscription.pk)
            .first()
        )
        if locked is None or locked.status == SubscriptionStatus.UNSUBSCRIBED:
            return False
        locked.status = SubscriptionStatus.UNSUBSCRIBED
        locked.unsubscribed_at = timezone.now()
        locked.save(update_fields=["status", "unsubscribed_at"])
        consent.record(
            subscriber=locked.subscriber, action=ConsentAction.UNSUBSCRIBED, mailing_list=locked.mailing_list
        )
        _announce_unsubscribe(subscription=locked, campaign_id=campaign_id)
    subscription.status, subscription.unsubscribed_at = locked.status, locked.unsubscribed_at
    return True


def unsubscribe_all(*, subscriber: Subscriber, consent: Consent, never_again: bool = False) -> int:
    """Unsubscribe from every list; `never_again` also suppresses the address, so that no list, form or import
    mails it again until staff lift it. Returns how many subscriptions were active."""
    count = 0
    for subscription in subscriptions_of(subscriber=subscriber).filter(status__in=ACTIVE):
        count += unsubscribe(subscription=subscription, consent=consent)
    if never_again:
        suppress(email=subscriber.email, reason=SuppressionReason.UNSUBSCRIBED, note=f"Asked by {consent.source}")
    return count


def preferences_update(
    *,
    subscriber: Subscriber,
    consent: Consent,
    mailing_lists: Iterable[MailingList] | None = None,
    name: str | None = None,
) -> None:
    """The subscriber's own choice among the public lists (those not chosen are left) and their name.

    Lists chosen here are confirmed at once: the page is reached through a link mailed to the address (or by its
    signed-in owner), which proves what a confirmation link would."""
    if name is not None and name != subscriber.name:
        subscriber.name = name
        subscriber.save(update_fields=["name", "updated_at"])
    if mailing_lists is None:
        return
    chosen = {mailing_list.pk: mailing_list for mailing_list in mailing_lists if mailing_list.is_public}
    now = timezone.now()
    current = {subscription.mailing_list_id: subscription for subscription in subscriptions_of(subscriber=subscriber)}
    for subscription in current.values():
        if subscription.mailing_list.is_public and subscription.mailing_list_id not in chosen:
            unsubscribe(subscription=subscription, consent=consent)
    if is_suppressed(email=subscriber.email):
        return
    with transaction.atomic():
        for list_id, mailing_list in chosen.items():
            subscription = current.get(list_id) or Subscription(subscriber=subscriber, mailing_list=mailing_list)
            if subscription.status == SubscriptionStatus.CONFIRMED and subscription.pk is not None:
                continue
            subscription.status = SubscriptionStatus.CONFIRMED
            subscription.confirmed_at = now
            subscription.unsubscribed_at = None
            subscription.save()
            consent.record(subscriber=subscriber, action=ConsentAction.SUBSCRIBED, mailing_list=mailing_list)
            consent.record(subscriber=subscriber, action=ConsentAction.CONFIRMED, mailing_list=mailing_list)


def suppress(*, email: str, reason: str, note: str = "") -> Suppression:
    """Put the address on the suppression list; one already there keeps its first reason."""
    suppression, _ = Suppression.objects.get_or_create(
        email=normalized_email(email), defaults={"reason": reason, "note": note[:500]}
    )
    return suppression


def suppress_undeliverable(*, email: str, reason: str, note: str, consent: Consent) -> Suppression:
    """A hard bounce or a complaint: suppress the address and end its subscriptions."""
    with transaction.atomic():
        suppression = suppress(email=email, reason=reason, note=note)
        subscriber = Subscriber.objects.filter(email__iexact=normalized_email(email)).first()
        if subscriber is not None:
            for subscription in subscriptions_of(subscriber=subscriber).filter(status__in=ACTIVE):
                unsubscribe(subscription=subscription, consent=consent)
    return suppression


def subscriber_export(*, subscriber: Subscriber) -> dict[str, Any]:
    """Everything kept about the subscriber (GDPR art. 15 and 20), as JSON-ready data."""
    return {
        "subscriber": {
            "email": subscriber.email,
            "name": subscriber.name,
            "created_at": subscriber.created_at.isoformat(),
            "updated_at": subscriber.updated_at.isoformat(),
        },
        "subscriptions": [
            {
                "list": subscription.mailing_list.slug,
                "list_name": subscription.mailing_list.name,
                "status": subscription.status,
                "created_at": subscription.created_at.isoformat(),
                "confirmed_at": _iso(subscription.confirmed_at),
                "unsubscribed_at": _iso(subscription.unsubscribed_at),
            }
            for subscription in subscriptions_of(subscriber=subscriber)
        ],
        "consent_records": [
            {
                "action": record.action,
                "list": record.mailing_list.slug if record.mailing_list else None,
                "source": record.source,
                "form_text": record.form_text,
                "ip_address": record.ip_address,
                "user_agent": record.user_agent,
                "created_at": record.created_at.isoformat(),
            }
            for record in consents_of(subscriber=subscriber)
        ],
        "suppressed": is_suppressed(email=subscriber.email),
    }


def subscriber_delete(*, subscriber: Subscriber) -> None:
    """Erase the subscriber, its subscriptions and consent records, and its address from the campaigns' send log
    (GDPR art. 17). The address stays on the suppression list (reason "deleted"): without it, the next import of an
    old file would add them back and mail them. Keeping the bare address for that purpose is allowed (art. 17(3)(b),
    21(3)); nothing else is kept."""
    with transaction.atomic():
        suppress(email=subscriber.email, reason=SuppressionReason.DELETED, note="The subscriber deleted their data")
        # The campaigns' send log copies the address (it outlives a subscriber staff delete): erased here, the rows
        # kept for the statistics. A row not yet sent is skipped by the sender, its subscription being gone.
        Delivery.objects.filter(subscriber=subscriber).update(
            email=Concat(Value("erased-"), Cast("pk", output_field=CharField()), Value("@invalid"))
        )
        subscriber.delete()


def _subscriber_locked(*, email: str) -> tuple[Subscriber, bool]:
    """The subscriber with this address, locked for this transaction, and whether it was created now (two requests
    at once for a new address: the second finds the first's row)."""
    existing = Subscriber.objects.select_for_update().filter(email__iexact=email).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return Subscriber.objects.create(email=email), True
    except IntegrityError:
        return Subscriber.objects.select_for_update().get(email__iexact=email), False


def _mail_confirmation(*, subscriber: Subscriber, now: datetime) -> None:
    """Mail one link for every pending subscription of the subscriber, unless one went out too recently. The mail
    is queued once the transaction commits: a rolled-back subscription sends nothing."""
    resend_after = timedelta(seconds=settings.NEWSLETTER["CONFIRM_RESEND_SECONDS"])
    if subscriber.confirmation_sent_at is not None and now - subscriber.confirmation_sent_at < resend_after:
        return
    pending = list(
        subscriptions_of(subscriber=subscriber).filter(status=SubscriptionStatus.PENDING).select_related("mailing_list")
    )
    if not pending:
        return
    subscriber.confirmation_sent_at = now
    subscriber.save(update_fields=["confirmation_sent_at"])
    context = {
        "confirm_url": links.confirm_url(subscriber, [subscription.mailing_list_id for subscription in pending]),
        "list_names": [subscription.mailing_list.name for subscription in pending],
        "valid_days": max(1, settings.NEWSLETTER["CONFIRM_MAX_AGE"] // 86_400),
    }
    subject = f"Confirm your subscription to {', '.join(context['list_names'])}"
    address = subscriber.email
    sender = settings.NEWSLETTER["FROM_EMAIL"]
    transaction.on_commit(lambda: send_email(address, subject, CONFIRM_TEMPLATE, context, from_email=sender))


def _announce_unsubscribe(*, subscription: Subscription, campaign_id: int | None) -> None:
    """Tell the campaigns (their statistics count unsubscribes). In a savepoint, and never fatal: a failing counter
    must not take the unsubscribe back."""
    try:
        with transaction.atomic():
            signals.unsubscribed.send(sender=Subscription, subscription=subscription, campaign_id=campaign_id)
    except Exception:  # the receivers are another part's code; whatever they raise, the unsubscribe stands
        logger.exception("newsletter: a receiver of the unsubscribed signal failed (subscription %s)", subscription.pk)


def _email_of(user: AbstractBaseUser) -> str:
    return normalized_email(getattr(user, user.get_email_field_name(), None) or "")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
