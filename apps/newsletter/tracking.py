"""Open and click tracking: the signed links put into campaign mails, and the records of what recipients did.

A click link carries the delivery's id and the original URL, signed (django.core.signing, a salt of its own): the
redirect goes only where the signature says, so an altered or unsigned link is refused (400) and the endpoint is no
open redirect. The open pixel's link carries the delivery's id the same way. Neither expires: mails are opened years
later. A mail sent as a test has no delivery: its links redirect and its pixel loads, and nothing is recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from apps.newsletter.links import absolute
from apps.newsletter.models import Delivery, Subscription, TrackingEvent, TrackingKind
from apps.newsletter.signals import unsubscribed

CLICK_SALT = "newsletter.click"
OPEN_SALT = "newsletter.open"
TRACKED_SCHEMES = ("http", "https")
# A transparent 1x1 GIF.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00"
    b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


class BadTrackingLink(Exception):
    """The token was altered, cut short, made for another kind of link, or names a target that is not http(s)."""


@dataclass(frozen=True)
class ClickTarget:
    delivery_id: int | None
    url: str


def is_trackable(url: str) -> bool:
    """Only absolute http(s) links are sent through the redirect (not mailto:, tel:, #anchors or relative ones)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in TRACKED_SCHEMES and bool(parts.netloc)


def click_url(*, delivery_id: int | None, url: str) -> str:
    token = signing.dumps({"d": delivery_id, "u": url}, salt=CLICK_SALT, compress=True)
    return absolute(reverse("newsletter:campaign-click", kwargs={"token": token}))


def open_url(*, delivery_id: int | None) -> str:
    token = signing.dumps({"d": delivery_id}, salt=OPEN_SALT)
    return absolute(reverse("newsletter:campaign-open", kwargs={"token": token}))


def read_click_token(token: str) -> ClickTarget:
    payload = _load(token, salt=CLICK_SALT)
    delivery_id, url = _delivery_id(payload.get("d")), payload.get("u")
    if not isinstance(url, str) or not is_trackable(url):
        raise BadTrackingLink("unexpected payload")
    return ClickTarget(delivery_id=delivery_id, url=url)


def read_open_token(token: str) -> int | None:
    return _delivery_id(_load(token, salt=OPEN_SALT).get("d"))


def _delivery_id(value: object) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise BadTrackingLink("unexpected payload")


def _load(token: str, *, salt: str) -> dict[str, object]:
    try:
        payload = signing.loads(token, salt=salt)
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as error:
        raise BadTrackingLink(str(error)) from None
    if not isinstance(payload, dict):
        raise BadTrackingLink("unexpected payload")
    return payload


def record_open(*, delivery_id: int) -> None:
    """Counted only while the campaign tracks opens (switched off later, it stops counting)."""
    delivery = Delivery.objects.filter(pk=delivery_id, campaign__track_opens=True).only("pk").first()
    if delivery is not None:
        _record(delivery_id=delivery.pk, kind=TrackingKind.OPEN, url="")


def record_click(*, delivery_id: int, url: str) -> None:
    delivery = Delivery.objects.filter(pk=delivery_id, campaign__track_clicks=True).only("pk").first()
    if delivery is not None:
        _record(delivery_id=delivery.pk, kind=TrackingKind.CLICK, url=url)


def record_unsubscribe(*, subscription: Subscription, campaign_id: int) -> None:
    """The unsubscribe came from this campaign's mail: counted once per recipient in its statistics."""
    delivery = (
        Delivery.objects.filter(campaign_id=campaign_id, subscription_id=subscription.pk).only("pk").first()
        or Delivery.objects.filter(campaign_id=campaign_id, subscriber_id=subscription.subscriber_id).only("pk").first()
    )
    if delivery is not None:
        _record(delivery_id=delivery.pk, kind=TrackingKind.UNSUBSCRIBE, url="")


@receiver(unsubscribed, dispatch_uid="newsletter.campaign_unsubscribe_counted")
def _count_campaign_unsubscribe(
    sender: Any, *, subscription: Subscription, campaign_id: int | None = None, **kwargs: Any
) -> None:
    """An unsubscribe made from a campaign's mail counts in that campaign's statistics. Connected when this module is
    imported, which NewsletterConfig.ready() does."""
    if campaign_id is not None:
        record_unsubscribe(subscription=subscription, campaign_id=campaign_id)


def _record(*, delivery_id: int, kind: str, url: str) -> None:
    """One row per delivery, kind and URL, its count raised on every repeat; two first hits at once both count."""
    events = TrackingEvent.objects.filter(delivery_id=delivery_id, kind=kind, url=url)
    if events.update(count=F("count") + 1, last_at=timezone.now()):
        return
    try:
        with transaction.atomic():
            TrackingEvent.objects.create(delivery_id=delivery_id, kind=kind, url=url)
    except IntegrityError:  # another request created it between the update and the insert
        events.update(count=F("count") + 1, last_at=timezone.now())
