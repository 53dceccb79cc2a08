"""Open and click tracking: signed links that redirect only where they were signed to go (an altered or unsigned link
is a 400, never a redirect), counted once per recipient and link, switchable per campaign; unsubscribes from a
campaign's mail counted in its statistics."""

from __future__ import annotations

import re

import pytest
from django.core import signing
from django.test import Client

from apps.newsletter import sending, signals, tracking
from apps.newsletter.models import CampaignStatus, Delivery, TrackingEvent, TrackingKind
from apps.newsletter.selectors.campaigns import campaign_stats
from apps.newsletter.tests.factories import campaign_create
from apps.newsletter.tests.links import site_path

pytestmark = pytest.mark.django_db

CLICK = re.compile(r'href="(http://127\.0\.0\.1:8000(/newsletter/c/[^"]+/))"')
PIXEL = re.compile(r'<img src="http://127\.0\.0\.1:8000(/newsletter/o/[^"]+\.gif)"')


@pytest.fixture
def sent(readers_list, readers, smtp, fast_sending):
    campaign = campaign_create(mailing_list=readers_list, status=CampaignStatus.SENDING)
    sending.send_batch(campaign_id=campaign.pk)
    return campaign, smtp.messages


def match(pattern: re.Pattern[str], text: str) -> re.Match[str]:
    found = pattern.search(text)
    assert found is not None, text
    return found


def link_of(mail) -> str:
    return match(CLICK, mail.html).group(2)


def test_a_click_redirects_to_the_original_link_and_counts_once_per_recipient(sent, client: Client):
    campaign, mails = sent
    first, second = link_of(mails[0]), link_of(mails[1])

    response = client.get(first)
    client.get(first)
    client.get(second)

    assert response.status_code == 302
    assert response["Location"] == "https://example.com/article?id=1&ref=mail"
    assert "no-store" in response["Cache-Control"]
    stats = campaign_stats(campaign=campaign)
    assert (stats["unique_clicks"], stats["clickers"], stats["clicks_total"]) == (2, 2, 3)
    assert stats["click_rate"] == round(2 / 3, 4)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # the signature altered
        lambda token: token.split(":")[0],  # the signature cut off
        lambda token: signing.dumps({"d": 1, "u": "https://evil.example/"}, salt="another.salt", compress=True),
        lambda token: signing.dumps({"d": 1, "u": "javascript:alert(1)"}, salt=tracking.CLICK_SALT),
        lambda token: "not-a-token",
    ],
    ids=["altered", "unsigned", "other-salt", "not-http", "garbage"],
)
def test_a_tampered_or_unsigned_click_link_is_refused_with_400_and_no_redirect(sent, client: Client, tamper):
    _, mails = sent
    token = link_of(mails[0]).removeprefix("/newsletter/c/").rstrip("/")

    response = client.get(f"/newsletter/c/{tamper(token)}/")

    assert response.status_code == 400
    assert "Location" not in response
    assert "not valid" in response.content.decode()
    assert not TrackingEvent.objects.exists()


def test_a_link_whose_target_was_swapped_for_another_is_refused(sent, client: Client):
    """The open-redirect attempt: a valid signature of one URL cannot carry another."""
    _, mails = sent
    token = link_of(mails[0]).removeprefix("/newsletter/c/").rstrip("/")
    payload = signing.loads(token, salt=tracking.CLICK_SALT)
    forged_payload = signing.dumps({**payload, "u": "https://evil.example/"}, salt=tracking.CLICK_SALT, compress=True)
    forged = forged_payload.rsplit(":", 1)[0] + ":" + token.rsplit(":", 1)[1]  # its own body, the real signature

    assert client.get(f"/newsletter/c/{forged}/").status_code == 400


def test_the_open_pixel_is_a_gif_never_cached_counting_unique_opens(sent, client: Client):
    campaign, mails = sent
    pixel = match(PIXEL, mails[0].html).group(1)

    response = client.get(pixel)
    client.get(pixel)
    client.get(match(PIXEL, mails[1].html).group(1))

    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a") and len(response.content) == len(tracking.PIXEL)
    assert "no-store" in response["Cache-Control"]
    stats = campaign_stats(campaign=campaign)
    assert (stats["opens"], stats["opens_total"]) == (2, 3)
    assert client.get(pixel.replace("/o/", "/o/x")).status_code == 400


def test_tracking_switched_off_after_sending_stops_counting(sent, client: Client):
    campaign, mails = sent
    campaign.track_opens = campaign.track_clicks = False
    campaign.save()

    assert client.get(link_of(mails[0])).status_code == 302  # the link still works
    assert client.get(match(PIXEL, mails[0].html).group(1)).status_code == 200
    assert not TrackingEvent.objects.exists()


def test_tracking_endpoints_take_get_only(sent, client: Client):
    _, mails = sent
    assert client.post(link_of(mails[0])).status_code == 405


def test_links_of_a_test_send_redirect_and_record_nothing(client: Client):
    response = client.get(site_path(tracking.click_url(delivery_id=None, url="https://example.com/x")))
    assert response.status_code == 302 and response["Location"] == "https://example.com/x"
    assert not TrackingEvent.objects.exists()


def test_an_unsubscribe_from_a_campaign_mail_counts_in_its_statistics(sent):
    campaign, _ = sent
    delivery = Delivery.objects.filter(campaign=campaign).select_related("subscription").earliest("id")

    signals.unsubscribed.send(sender=None, subscription=delivery.subscription, campaign_id=campaign.pk)
    signals.unsubscribed.send(sender=None, subscription=delivery.subscription, campaign_id=None)  # not from a mail

    assert campaign_stats(campaign=campaign)["unsubscribes"] == 1
    assert TrackingEvent.objects.get().kind == TrackingKind.UNSUBSCRIBE


def test_the_one_click_unsubscribe_of_a_campaign_mail_counts(sent, client: Client):
    """End to end with the audience's endpoint: the POST of RFC 8058 to the List-Unsubscribe URL."""
    campaign, mails = sent
    url = site_path(mails[0].message["List-Unsubscribe"].strip("<>"))

    response = client.post(url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200, response.content[:300]
    assert campaign_stats(campaign=campaign)["unsubscribes"] == 1
