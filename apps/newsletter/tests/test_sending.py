"""Sending a campaign through a real SMTP server: each recipient once, with the bulk-sender headers, tracked links,
suppression and unsubscribes checked at the moment of sending, and the send log resumable."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from django.core.mail import mailers
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend
from django.db import connection, connections

from apps.newsletter import sending
from apps.newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from apps.newsletter.services import campaigns as services
from apps.newsletter.smtp import SmtpConnection
from apps.newsletter.tests.factories import audience_create, campaign_create
from modules.email.testing import smtp_mailers

pytestmark = pytest.mark.django_db


def send(campaign: Campaign, capture: Any) -> Campaign:
    with capture(execute=True):
        services.campaign_send_now(campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def sending_campaign(mailing_list: Any, **fields: Any) -> Campaign:
    """A campaign switched to sending with its recipients listed, and no task queued: the test sends its batches."""
    campaign = campaign_create(mailing_list=mailing_list, status=CampaignStatus.SENDING, **fields)
    sending.list_recipients(campaign)
    return campaign


def statuses(campaign: Campaign) -> dict[str, str]:
    return dict(Delivery.objects.filter(campaign=campaign).values_list("email", "status"))


def test_a_campaign_reaches_every_confirmed_subscriber_once_with_the_one_click_headers(
    readers_list, readers, smtp, fast_sending, django_capture_on_commit_callbacks
):
    campaign = send(campaign_create(mailing_list=readers_list), django_capture_on_commit_callbacks)

    assert campaign.status == CampaignStatus.SENT and campaign.finished_at is not None
    received = sorted(mail.rcpt_tos[0] for mail in smtp.messages)
    assert received == sorted(subscription.subscriber.email for subscription in readers)
    mail = smtp.messages[0]
    assert mail.message["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/newsletter/unsubscribe/")
    assert mail.message["List-Unsubscribe"].endswith(">")
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.message["List-Id"] == "Readers <readers.127.0.0.1>"
    assert mail.message["Message-ID"].endswith("@localhost>")
    assert mail.subject.startswith("News for Reader")
    assert mail.mail_from == "noreply@localhost"
    deliveries = Delivery.objects.filter(campaign=campaign)
    assert {delivery.status for delivery in deliveries} == {DeliveryStatus.SENT}
    assert {delivery.message_id for delivery in deliveries} == {str(m.message["Message-ID"]) for m in smtp.messages}


def test_the_list_unsubscribe_header_goes_out_as_one_plain_line_never_as_encoded_words(
    readers_list, readers, smtp, fast_sending, django_capture_on_commit_callbacks
):
    """The URL is longer than a header line's 78 characters and has no space to fold at: the email package would
    write it as RFC 2047 encoded words (=?utf-8?q?=3Chttp...), which no mailbox provider reads as a URL (RFC 2369
    headers are structured), so one-click unsubscribe would be lost. The raw header, as the server got it, is
    checked: both the campaign's own SMTP sender and Django's backend (a test send)."""
    campaign = send(campaign_create(mailing_list=readers_list), django_capture_on_commit_callbacks)
    services.campaign_test_send(campaign=campaign, to="tester@example.com")

    assert len(smtp.messages) == len(readers) + 1
    for mail in smtp.messages:
        raw = dict(mail.message.raw_items())["List-Unsubscribe"]
        assert "=?" not in raw and "\n" not in raw, raw
        assert raw.startswith("<http://127.0.0.1:8000/newsletter/unsubscribe/") and raw.endswith("/>")
        assert len(raw) > 78
        assert dict(mail.message.raw_items())["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_html_links_go_through_the_signed_redirect_but_the_unsubscribe_link_does_not(
    readers_list, readers, smtp, fast_sending
):
    campaign = sending_campaign(readers_list)
    sending.send_batch(campaign_id=campaign.pk)

    mail = smtp.messages[0]
    html, text = mail.html, mail.text
    assert "https://example.com/article" not in html
    assert html.count("http://127.0.0.1:8000/newsletter/c/") == 1
    assert 'href="mailto:help@example.com"' in html
    unsubscribe = mail.message["List-Unsubscribe"].strip("<>")
    assert f'href="{unsubscribe}"' in html  # the same one-click URL, not rewritten
    assert "/newsletter/preferences/" in html
    assert '<img src="http://127.0.0.1:8000/newsletter/o/' in html and html.index("<img") < html.index("</body>")
    assert "https://example.com/article?id=1" in text and "/newsletter/c/" not in text  # the text part is as written


def test_tracking_switched_off_leaves_the_links_and_adds_no_pixel(readers_list, readers, smtp, fast_sending):
    campaign = sending_campaign(readers_list, track_opens=False, track_clicks=False)
    sending.send_batch(campaign_id=campaign.pk)

    html = smtp.messages[0].html
    assert 'href="https://example.com/article?id=1&amp;ref=mail"' in html
    assert "/newsletter/c/" not in html and "/newsletter/o/" not in html


def test_suppression_and_unsubscribes_are_checked_when_each_message_goes(readers_list, readers, smtp, fast_sending):
    campaign = sending_campaign(readers_list)
    bounced, gone, stays = readers
    # After the recipients were listed: a bounce arrives for one, another unsubscribes.
    Suppression.objects.create(email=bounced.subscriber.email.lower(), reason=SuppressionReason.HARD_BOUNCE)
    Subscription.objects.filter(pk=gone.pk).update(status=SubscriptionStatus.UNSUBSCRIBED)

    sending.send_batch(campaign_id=campaign.pk)

    assert [mail.rcpt_tos for mail in smtp.messages] == [[stays.subscriber.email]]
    assert statuses(campaign) == {
        bounced.subscriber.email: DeliveryStatus.SUPPRESSED,
        gone.subscriber.email: DeliveryStatus.SKIPPED,
        stays.subscriber.email: DeliveryStatus.SENT,
    }


def test_a_row_left_sending_is_sent_again_once_and_a_sent_row_never(readers_list, readers, smtp, fast_sending):
    campaign = sending_campaign(readers_list)
    orphan, done, waiting = Delivery.objects.filter(campaign=campaign).order_by("id")
    # A worker died mid-message: the row says sending; another message was sent and committed before that.
    Delivery.objects.filter(pk=orphan.pk).update(status=DeliveryStatus.SENDING, attempts=1)
    Delivery.objects.filter(pk=done.pk).update(status=DeliveryStatus.SENT, attempts=1)

    outcome = sending.send_batch(campaign_id=campaign.pk)
    sending.send_batch(campaign_id=campaign.pk)  # once more: a duplicate task delivery changes nothing

    assert sorted(mail.rcpt_tos[0] for mail in smtp.messages) == sorted([orphan.email, waiting.email])
    assert outcome.counts == {DeliveryStatus.SENT: 2} and not outcome.more
    assert set(statuses(campaign).values()) == {DeliveryStatus.SENT}
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT


def test_a_message_without_its_final_dot_is_never_accepted_by_the_server(readers, smtp):
    """The premise of the send log: until the final dot, the server holds nothing it could deliver."""
    backend = mailers.default
    assert isinstance(backend, SmtpEmailBackend)
    connection = SmtpConnection(backend)
    connection.transmit("news@example.com", "reader@example.com", b"Subject: hi\r\n\r\nBody\r\n.starts with a dot\r\n")
    connection.drop()  # the process dies here: the socket closes without the dot
    time.sleep(0.2)
    assert smtp.messages == []

    connection.transmit("news@example.com", "reader@example.com", b"Subject: hi\r\n\r\nBody\r\n.starts with a dot\r\n")
    connection.finish()
    connection.close()
    [mail] = smtp.messages
    assert mail.message.get_content().splitlines() == ["Body", ".starts with a dot"]  # dot-stuffed and unstuffed


def test_a_refused_recipient_fails_and_a_temporary_refusal_is_retried_then_fails(
    readers_list, readers, smtp, fast_sending
):
    refused, greylisted, fine = (subscription.subscriber.email for subscription in readers)
    smtp.refuse_recipients = {refused.lower(): "550 5.1.1 No such user", greylisted.lower(): "451 4.7.1 Later"}
    campaign = sending_campaign(readers_list)

    first = sending.send_batch(campaign_id=campaign.pk)
    assert first.more and statuses(campaign)[greylisted] == DeliveryStatus.PENDING
    batches = 1
    while sending.send_batch(campaign_id=campaign.pk).more:
        batches += 1
    assert batches <= sending.MAX_ATTEMPTS  # one batch per try of the greylisted address

    rows = {row.email: row for row in Delivery.objects.filter(campaign=campaign)}
    assert rows[refused].status == DeliveryStatus.FAILED and "550 5.1.1 No such user" in rows[refused].error
    assert rows[refused].attempts == 1
    assert rows[greylisted].status == DeliveryStatus.FAILED and rows[greylisted].attempts == sending.MAX_ATTEMPTS
    assert rows[fine].status == DeliveryStatus.SENT
    assert [mail.rcpt_tos for mail in smtp.messages] == [[fine]]
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT


def test_a_message_refused_at_its_final_dot_is_failed_not_sent(readers_list, readers, smtp, fast_sending):
    smtp.refuse_with = "554 5.7.1 Message rejected as spam"
    campaign = sending_campaign(readers_list)

    sending.send_batch(campaign_id=campaign.pk)

    rows = Delivery.objects.filter(campaign=campaign)
    assert {row.status for row in rows} == {DeliveryStatus.FAILED}
    assert all("554 5.7.1" in row.error and row.sent_at is not None for row in rows)  # marked sent, then corrected
    assert smtp.messages == []


def test_an_unreachable_mail_server_stops_the_batch_and_loses_nobody(readers_list, readers, settings, fast_sending):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.MAILERS = smtp_mailers(port)  # nothing listens there
    campaign = sending_campaign(readers_list)

    with pytest.raises(sending.MailServerUnavailable):
        sending.send_batch(campaign_id=campaign.pk)

    rows = Delivery.objects.filter(campaign=campaign)
    assert {row.status for row in rows} == {DeliveryStatus.PENDING}
    assert {row.attempts for row in rows} == {0}
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENDING


def test_pause_takes_effect_between_messages_and_resume_sends_the_rest_once(
    readers_list, smtp, fast_sending, django_capture_on_commit_callbacks
):
    audience_create(readers_list, 6)
    campaign = sending_campaign(readers_list)

    def pause_after_two(status: str) -> None:
        if len(smtp.messages) == 2:
            services.campaign_pause(campaign=campaign)

    outcome = sending.send_batch(campaign_id=campaign.pk, on_message=pause_after_two)

    assert outcome.status == CampaignStatus.PAUSED and not outcome.more
    assert len(smtp.messages) == 2
    assert sorted(statuses(campaign).values()).count(DeliveryStatus.PENDING) == 4
    assert set(Delivery.objects.filter(status=DeliveryStatus.PENDING).values_list("attempts", flat=True)) == {0}

    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_resume(campaign=campaign)

    addresses = [mail.rcpt_tos[0] for mail in smtp.messages]
    assert len(addresses) == len(set(addresses)) == 6
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT


def test_cancel_skips_everyone_not_yet_sent(readers_list, smtp, fast_sending):
    audience_create(readers_list, 5)
    campaign = sending_campaign(readers_list)

    def cancel_after_one(status: str) -> None:
        if len(smtp.messages) == 1:
            services.campaign_cancel(campaign=campaign)

    sending.send_batch(campaign_id=campaign.pk, on_message=cancel_after_one)

    assert len(smtp.messages) == 1
    values = sorted(statuses(campaign).values())
    assert values == [DeliveryStatus.SENT] + [DeliveryStatus.SKIPPED] * 4
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.CANCELLED


def test_a_second_sender_on_the_same_campaign_does_nothing(readers_list, readers, smtp, fast_sending):
    campaign = sending_campaign(readers_list)
    other = connections.create_connection("default")  # another process's session, holding the sender lock
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [sending.LOCK_NAMESPACE, campaign.pk])
        outcome = sending.send_batch(campaign_id=campaign.pk)
    finally:
        other.close()

    assert outcome.busy and smtp.messages == []
    # The lock dies with the other session (as with a killed worker), once the server has seen it close.
    deadline = time.monotonic() + 10
    while (again := sending.send_batch(campaign_id=campaign.pk)).busy and time.monotonic() < deadline:
        time.sleep(0.05)
    assert again.counts == {DeliveryStatus.SENT: 3}


def test_messages_are_paced_at_the_configured_rate(readers_list, smtp, settings):
    settings.NEWSLETTER = {**settings.NEWSLETTER, "SEND_RATE": 20, "BATCH_SIZE": 100}
    audience_create(readers_list, 6)
    campaign = sending_campaign(readers_list)

    started = time.monotonic()
    sending.send_batch(campaign_id=campaign.pk)
    elapsed = time.monotonic() - started

    assert len(smtp.messages) == 6
    assert elapsed >= 5 / 20  # six messages: five intervals of 50 ms


def test_batches_take_batch_size_rows_and_report_more(readers_list, smtp, settings):
    settings.NEWSLETTER = {**settings.NEWSLETTER, "SEND_RATE": 10_000, "BATCH_SIZE": 4}
    audience_create(readers_list, 10)
    campaign = sending_campaign(readers_list)

    outcomes = [sending.send_batch(campaign_id=campaign.pk) for _ in range(3)]

    assert [sum(outcome.counts.values()) for outcome in outcomes] == [4, 4, 2]
    assert [outcome.more for outcome in outcomes] == [True, True, False]
    assert len(smtp.messages) == 10


def test_the_immediate_backend_sends_every_batch_in_one_call(
    readers_list, smtp, settings, django_capture_on_commit_callbacks
):
    settings.NEWSLETTER = {**settings.NEWSLETTER, "SEND_RATE": 10_000, "BATCH_SIZE": 3}
    audience_create(readers_list, 10)

    campaign = send(campaign_create(mailing_list=readers_list), django_capture_on_commit_callbacks)

    assert campaign.status == CampaignStatus.SENT
    assert len(smtp.messages) == 10


def test_other_mail_backends_send_with_the_same_log(readers_list, readers, mailoutbox, fast_sending):
    campaign = sending_campaign(readers_list)

    sending.send_batch(campaign_id=campaign.pk)

    assert sorted(message.to[0] for message in mailoutbox) == sorted(s.subscriber.email for s in readers)
    assert mailoutbox[0].extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert set(statuses(campaign).values()) == {DeliveryStatus.SENT}


def test_cancelling_a_campaign_whose_sender_died_skips_the_rows_it_left_sending(readers_list, readers, smtp):
    """No batch runs on a cancelled campaign, so nothing else would ever release a row its dead sender claimed: it
    would count as pending for good."""
    campaign = sending_campaign(readers_list)
    orphan = Delivery.objects.filter(campaign=campaign).order_by("id").first()
    assert orphan is not None
    Delivery.objects.filter(pk=orphan.pk).update(status=DeliveryStatus.SENDING, attempts=1)

    services.campaign_cancel(campaign=campaign)

    assert set(statuses(campaign).values()) == {DeliveryStatus.SKIPPED}
    assert sending.unfinished_rows(campaign.pk).count() == 0
    assert smtp.messages == []


def test_cancelling_leaves_a_live_senders_rows_to_it(readers_list, readers, smtp):
    """A sender at work holds the lock: the row it is sending this instant may still go, and it settles its rows."""
    campaign = sending_campaign(readers_list)
    claimed = Delivery.objects.filter(campaign=campaign).order_by("id").first()
    assert claimed is not None
    Delivery.objects.filter(pk=claimed.pk).update(status=DeliveryStatus.SENDING, attempts=1)
    other = connections.create_connection("default")  # the live sender's session
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [sending.LOCK_NAMESPACE, campaign.pk])
        services.campaign_cancel(campaign=campaign)
    finally:
        other.close()

    assert statuses(campaign)[claimed.email] == DeliveryStatus.SENDING
    assert sorted(statuses(campaign).values()).count(DeliveryStatus.SKIPPED) == 2


@pytest.mark.django_db(transaction=True)
def test_a_sender_whose_database_session_was_replaced_sends_no_further_message(
    readers_list, readers, smtp, fast_sending
):
    """The sender lock lives on the database session. Once that session is gone (closed, then silently reopened by
    Django at the next query), another sender can take the lock, put this one's claimed rows back to pending and send
    them: this sender must stop, leaving its rows to whoever holds the lock next."""
    campaign = sending_campaign(readers_list)

    def session_recycled(status: str) -> None:
        if len(smtp.messages) == 1:
            connection.close()

    outcome = sending.send_batch(campaign_id=campaign.pk, on_message=session_recycled)

    assert len(smtp.messages) == 1 and outcome.counts == {DeliveryStatus.SENT: 1}
    assert outcome.more  # the next batch takes over
    again = sending.send_batch(campaign_id=campaign.pk)
    assert again.counts == {DeliveryStatus.SENT: 2}
    addresses = [mail.rcpt_tos[0] for mail in smtp.messages]
    assert len(addresses) == len(set(addresses)) == 3
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT


def test_closing_between_a_message_and_its_final_dot_drops_the_connection_at_once(readers, smtp):
    """A failure in that window (the send log's commit) closes the sender: a QUIT there would be read by the server as
    a line of the message, and its reply waited for until the connection's timeout."""
    backend = mailers.default
    assert isinstance(backend, SmtpEmailBackend)
    connection = SmtpConnection(backend)
    connection.transmit("news@example.com", "reader@example.com", b"Subject: hi\r\n\r\nBody\r\n")

    started = time.monotonic()
    connection.close()

    assert time.monotonic() - started < 1
    assert backend.connection is None
    time.sleep(0.2)
    assert smtp.messages == []
