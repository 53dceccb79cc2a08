"""newsletter_send (through the queue, or --now here with a progress bar; --due) and newsletter_stats (a table, or
--json); a bad campaign or status exits non-zero with one clear line."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from apps.newsletter.tests.factories import campaign_create

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_send_now_sends_here_by_name(readers_list, readers, smtp, fast_sending):
    campaign = campaign_create(mailing_list=readers_list, name="June letter")

    output = run("newsletter_send", "June letter", "--now")

    assert "sent 3" in output and "the campaign is sent" in output
    assert len(smtp.messages) == 3
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT


def test_send_through_the_queue_by_id(
    readers_list, readers, mailoutbox, fast_sending, django_capture_on_commit_callbacks
):
    campaign = campaign_create(mailing_list=readers_list)
    with django_capture_on_commit_callbacks(execute=True):
        output = run("newsletter_send", str(campaign.pk))
    assert "is queued" in output
    assert len(mailoutbox) == 3  # the immediate backend ran the queued task


def test_a_paused_campaign_is_resumed_by_send_now(readers_list, readers, mailoutbox, fast_sending):
    campaign = campaign_create(mailing_list=readers_list, status=CampaignStatus.PAUSED)
    run("newsletter_send", str(campaign.pk), "--now")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT and len(mailoutbox) == 3


@pytest.mark.parametrize(
    ("reference", "status", "message"),
    [
        ("nope", None, "no campaign 'nope'"),
        (None, CampaignStatus.SENT, "is sent: nothing to send"),
        (None, CampaignStatus.CANCELLED, "is cancelled: nothing to send"),
    ],
)
def test_a_bad_campaign_or_status_is_a_clear_error(readers_list, reference, status, message):
    campaign = campaign_create(mailing_list=readers_list, status=status or CampaignStatus.DRAFT)
    with pytest.raises(CommandError, match=message):
        run("newsletter_send", reference or str(campaign.pk), "--now")


def test_a_list_with_nobody_is_a_clear_error(readers_list):
    campaign = campaign_create(mailing_list=readers_list)
    with pytest.raises(CommandError, match="nobody to send it to"):
        run("newsletter_send", str(campaign.pk))
    with pytest.raises(CommandError, match="name the campaign"):
        run("newsletter_send")


def test_due_starts_scheduled_campaigns_whose_time_has_come(readers_list, readers, mailoutbox, fast_sending):
    due = campaign_create(mailing_list=readers_list, status=CampaignStatus.SCHEDULED)
    later = campaign_create(mailing_list=readers_list, status=CampaignStatus.SCHEDULED)
    Campaign.objects.filter(pk=due.pk).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    Campaign.objects.filter(pk=later.pk).update(scheduled_at=timezone.now() + timedelta(hours=1))

    assert "1 scheduled campaign(s) started" in run("newsletter_send", "--due")

    assert Campaign.objects.get(pk=due.pk).status == CampaignStatus.SENDING
    assert Campaign.objects.get(pk=later.pk).status == CampaignStatus.SCHEDULED


def test_stats_as_a_table_and_as_json(readers_list):
    campaign = campaign_create(mailing_list=readers_list, status=CampaignStatus.SENT, name="July")
    for index, status in enumerate([DeliveryStatus.SENT, DeliveryStatus.FAILED]):
        Delivery.objects.create(campaign=campaign, email=f"s{index}@example.com", status=status)

    table = run("newsletter_stats")
    rows = json.loads(run("newsletter_stats", "--json"))

    assert "July" in table and "Sent" in table
    assert rows[0]["name"] == "July" and (rows[0]["sent"], rows[0]["failed"], rows[0]["recipients"]) == (1, 1, 2)
    assert json.loads(run("newsletter_stats", "--json", "--status", "draft")) == []
    with pytest.raises(CommandError, match="invalid choice"):
        run("newsletter_stats", "--status", "lost")
