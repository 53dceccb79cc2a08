"""The signed links a subscriber is sent: unsubscribe, preferences, and the confirmation of a subscription.

Each kind has its own salt, so one kind of token never passes for another. Unsubscribe and preferences links do not
expire: they sit in mails that may be opened years later, and they only ever let the holder of the mail act on that
one address. The confirmation link expires after NEWSLETTER["CONFIRM_MAX_AGE"] seconds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.urls import reverse

from apps.newsletter.models import Subscriber, Subscription

UNSUBSCRIBE_SALT = "newsletter.unsubscribe"
PREFERENCES_SALT = "newsletter.preferences"
CONFIRM_SALT = "newsletter.confirm"


class BadLink(Exception):
    """The token was altered, cut short, or made for another kind of link."""


class ExpiredLink(BadLink):
    """A confirmation link older than NEWSLETTER["CONFIRM_MAX_AGE"]."""


@dataclass(frozen=True)
class UnsubscribeToken:
    subscription_id: int
    campaign_id: int | None


@dataclass(frozen=True)
class ConfirmToken:
    subscriber_key: UUID
    mailing_list_ids: tuple[int, ...]


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def unsubscribe_token(subscription: Subscription, *, campaign_id: int | None = None) -> str:
    payload: dict[str, int] = {"s": subscription.pk}
    if campaign_id is not None:
        payload["c"] = campaign_id
    return signing.dumps(payload, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(subscription: Subscription, *, campaign_id: int | None = None) -> str:
    """The one link that unsubscribes from one list: a confirmation page on GET, RFC 8058 one-click on POST."""
    token = unsubscribe_token(subscription, campaign_id=campaign_id)
    return absolute(reverse("newsletter:unsubscribe", kwargs={"token": token}))


def read_unsubscribe_token(token: str) -> UnsubscribeToken:
    payload = _load(token, salt=UNSUBSCRIBE_SALT)
    subscription_id, campaign_id = payload.get("s"), payload.get("c")
    if not isinstance(subscription_id, int) or not (campaign_id is None or isinstance(campaign_id, int)):
        raise BadLink("unexpected payload")
    return UnsubscribeToken(subscription_id=subscription_id, campaign_id=campaign_id)


def preferences_token(subscriber: Subscriber) -> str:
    return signing.dumps({"k": subscriber.key.hex}, salt=PREFERENCES_SALT)


def preferences_url(subscriber: Subscriber) -> str:
    """The subscriber's self-service page: lists, name, export and deletion of their data."""
    return absolute(reverse("newsletter:preferences", kwargs={"token": preferences_token(subscriber)}))


def read_preferences_token(token: str) -> UUID:
    return _key(_load(token, salt=PREFERENCES_SALT).get("k"))


def confirm_token(subscriber: Subscriber, mailing_list_ids: Iterable[int]) -> str:
    return signing.dumps({"k": subscriber.key.hex, "l": sorted(set(mailing_list_ids))}, salt=CONFIRM_SALT)


def confirm_url(subscriber: Subscriber, mailing_list_ids: Iterable[int]) -> str:
    """Confirms the subscriber's pending subscriptions to these lists, until NEWSLETTER["CONFIRM_MAX_AGE"]."""
    token = confirm_token(subscriber, mailing_list_ids)
    return absolute(reverse("newsletter:confirm", kwargs={"token": token}))


def read_confirm_token(token: str, *, expired_ok: bool = False) -> ConfirmToken:
    """ExpiredLink past NEWSLETTER["CONFIRM_MAX_AGE"]; `expired_ok` reads it anyway, only to mail a fresh link to the
    same subscriber."""
    max_age = None if expired_ok else settings.NEWSLETTER["CONFIRM_MAX_AGE"]
    payload = _load(token, salt=CONFIRM_SALT, max_age=max_age)
    ids = payload.get("l")
    if not isinstance(ids, list) or not all(isinstance(item, int) for item in ids):
        raise BadLink("unexpected payload")
    return ConfirmToken(subscriber_key=_key(payload.get("k")), mailing_list_ids=tuple(ids))


def _load(token: str, *, salt: str, max_age: int | None = None) -> dict[str, object]:
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired as error:
        raise ExpiredLink(str(error)) from None
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as error:
        # A signature that checks but a payload that does not decompress or parse: only our own bug could make one.
        raise BadLink(str(error)) from None
    if not isinstance(payload, dict):
        raise BadLink("unexpected payload")
    return payload


def _key(value: object) -> UUID:
    if not isinstance(value, str):
        raise BadLink("unexpected payload")
    try:
        return UUID(hex=value)
    except ValueError:
        raise BadLink("unexpected payload") from None
