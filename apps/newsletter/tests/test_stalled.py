"""The periodic catch-up (tasks.send_due_campaigns, newsletter_send --due) queues a batch again for a sending campaign
that made no progress for NEWSLETTER["STALL_SECONDS"]: its chain of batch tasks was lost, or a dead database session
holds its sender lock. Campaigns making progress, and paused ones, are left alone."""

from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from apps.newsletter import sending, tasks
from apps.newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, MailingList
from apps.newsletter.tests.factories import campaign_create

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(minutes=30)


def idle_campaign(mailing_list: MailingList, *, status: str = CampaignStatus.SENDING) -> Campaign:
    """A campaign whose recipients are listed, one sent and one claimed by a sender that is gone, all of it half an
    hour ago; one recipient is still pending. No task is queued for it."""
    campaign = campaign_create(mailing_list=mailing_list, status=status)
    sending.list_recipients(campaign)
    first, second = Delivery.objects.filter(campaign=campaign).order_by("id")[:2]
    then = timezone.now() - LONG_AGO
    Delivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.SENT, claimed_at=then, sent_at=then)
    Delivery.objects.filter(pk=second.pk).update(status=DeliveryStatus.SENDING, claimed_at=then)
    Campaign.objects.filter(pk=campaign.pk).update(started_at=then, updated_at=then)
    return campaign


def catch_up(capture: Any) -> tuple[dict[str, int], int]:
    """One run of the periodic task, its queued batches run (the immediate backend); with how many it queued."""
    with capture(execute=True) as callbacks:
        result = tasks.send_due_campaigns.call()
    return result, len(callbacks)


def status_of(campaign: Campaign) -> str:
    return Campaign.objects.get(pk=campaign.pk).status


def test_a_stalled_sending_campaign_gets_a_batch_queued_and_finishes(
    readers_list, readers, smtp, fast_sending, django_capture_on_commit_callbacks
):
    campaign = idle_campaign(readers_list)

    result, queued = catch_up(django_capture_on_commit_callbacks)

    assert result == {"started": 0, "restarted": 1} and queued == 1
    assert status_of(campaign) == CampaignStatus.SENT
    # The recipient left `sending` by the dead sender and the pending one; the one sent before is not sent again.
    sent_before = Delivery.objects.filter(campaign=campaign, sent_at__lt=timezone.now() - LONG_AGO / 2).get()
    assert sorted(mail.rcpt_tos[0] for mail in smtp.messages) == sorted(
        subscription.subscriber.email for subscription in readers if subscription.subscriber.email != sent_before.email
    )


@pytest.mark.parametrize(
    "recent",
    [
        {"sent_at": timedelta(minutes=1)},
        {"claimed_at": timedelta(minutes=1)},
        {"campaign": timedelta(0)},
    ],
    ids=["a message sent", "a batch claimed recipients", "the campaign resumed"],
)
def test_a_sending_campaign_with_recent_progress_is_left_alone(
    readers_list, readers, smtp, fast_sending, django_capture_on_commit_callbacks, recent
):
    campaign = idle_campaign(readers_list)
    [(what, ago)] = recent.items()
    if what == "campaign":
        Campaign.objects.filter(pk=campaign.pk).update(updated_at=timezone.now() - ago)
    else:
        row = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SENT).get()
        Delivery.objects.filter(pk=row.pk).update(**{what: timezone.now() - ago})

    result, queued = catch_up(django_capture_on_commit_callbacks)

    assert result == {"started": 0, "restarted": 0} and queued == 0
    assert status_of(campaign) == CampaignStatus.SENDING and smtp.messages == []


def test_progress_is_judged_against_the_configured_stall_time(
    settings, readers_list, readers, smtp, fast_sending, django_capture_on_commit_callbacks
):
    campaign = idle_campaign(readers_list)
    settings.NEWSLETTER = {**settings.NEWSLETTER, "STALL_SECONDS": int((LONG_AGO * 2).total_seconds())}

    assert catch_up(django_capture_on_commit_callbacks) == ({"started": 0, "restarted": 0}, 0)

    settings.NEWSLETTER = {**settings.NEWSLETTER, "STALL_SECONDS": int((LONG_AGO / 2).total_seconds())}

    assert catch_up(django_capture_on_commit_callbacks) == ({"started": 0, "restarted": 1}, 1)
    assert status_of(campaign) == CampaignStatus.SENT


def test_a_paused_campaign_is_left_alone(readers_list, readers, smtp, fast_sending, django_capture_on_commit_callbacks):
    campaign = idle_campaign(readers_list, status=CampaignStatus.PAUSED)

    result, queued = catch_up(django_capture_on_commit_callbacks)

    assert result == {"started": 0, "restarted": 0} and queued == 0
    assert status_of(campaign) == CampaignStatus.PAUSED and smtp.messages == []


def test_a_lock_held_by_a_dead_session_is_tried_again_at_every_run_until_a_batch_takes_over(
    readers_list, readers, smtp, fast_sending, django_capture_on_commit_callbacks
):
    """A network partition: the old sender's session still holds the lock on the server. The queued batch finds it
    taken and ends; the campaign still makes no progress, so the next run queues one again."""
    campaign = idle_campaign(readers_list)
    dead = connections.create_connection("default")
    try:
        with dead.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [sending.LOCK_NAMESPACE, campaign.pk])
        for _run in range(2):
            assert catch_up(django_capture_on_commit_callbacks) == ({"started": 0, "restarted": 1}, 1)
            assert status_of(campaign) == CampaignStatus.SENDING and smtp.messages == []
    finally:
        dead.close()

    # The server ends the session (here at once; after a partition, once its keepalive gives up): the lock goes.
    deadline = time.monotonic() + 10
    while status_of(campaign) == CampaignStatus.SENDING and time.monotonic() < deadline:
        catch_up(django_capture_on_commit_callbacks)
        time.sleep(0.05)
    assert status_of(campaign) == CampaignStatus.SENT and len(smtp.messages) == 2


def test_due_queues_stalled_campaigns_again_and_says_so(
    readers_list, readers, smtp, fast_sending, django_capture_on_commit_callbacks
):
    stalled = idle_campaign(readers_list)
    paused = idle_campaign(readers_list, status=CampaignStatus.PAUSED)
    out = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("newsletter_send", "--due", stdout=out, stderr=StringIO())

    assert "0 scheduled campaign(s) started" in out.getvalue()
    assert "1 stalled sending campaign(s) queued again" in out.getvalue()
    assert status_of(stalled) == CampaignStatus.SENT and status_of(paused) == CampaignStatus.PAUSED
