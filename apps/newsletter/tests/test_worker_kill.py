"""A campaign sent by a real worker (the ReArq backend on the local Redis, `rearq_worker` as a subprocess) into a real
SMTP server that counts what it accepts: the worker is killed with SIGKILL in the middle of the send, a second worker
takes over: nobody has received the campaign twice, and nobody misses it but, at most, the one message that a kill
between its row's commit and its final dot loses (docs/newsletter-campaigns.md)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from apps.newsletter.services import campaigns as services
from apps.newsletter.tests.factories import audience_create, campaign_create, mailing_list_create
from apps.tasks.models import TaskRun
from apps.tasks.tests.conftest import wait_for
from modules.email.testing import SmtpSink, smtp_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RECIPIENTS = 300


class SlowSink(SmtpSink):
    """Takes a few milliseconds per message, as a real server does, so that the kill lands mid-campaign: before the
    message (at RCPT) and after it is queued (the reply to the final dot). Like Postfix or Exim, it keeps a message
    once it has read the final dot, whether or not the client is still there for the reply."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        await asyncio.sleep(0.005)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(0.005)
        return reply


@pytest.fixture
def slow_smtp() -> Iterator[tuple[SlowSink, int]]:
    sink = SlowSink()
    with smtp_server(sink) as (_, port):
        yield sink, port


def worker_env(queue: str, port: int) -> dict[str, str]:
    return {
        "NEWSLETTER__QUEUE": queue,
        "NEWSLETTER__SEND_RATE": "1000",
        "NEWSLETTER__BATCH_SIZE": "40",
        "EMAIL__BACKEND": "smtp",
        "EMAIL__HOST": "127.0.0.1",
        "EMAIL__PORT": str(port),
    }


def delivered(sink: SmtpSink) -> Counter[str]:
    return Counter(address.lower() for mail in list(sink.messages) for address in mail.rcpt_tos)


def test_a_worker_killed_mid_campaign_sends_nobody_two_messages_and_loses_at_most_the_one_in_its_window(
    slow_smtp, queue_name, rearq, start_worker, settings
):
    sink, port = slow_smtp
    settings.NEWSLETTER = {**settings.NEWSLETTER, "QUEUE": queue_name}
    readers = mailing_list_create(name="Readers", slug="readers")
    subscriptions = audience_create(readers, RECIPIENTS)
    campaign = campaign_create(mailing_list=readers)
    doomed = start_worker(env=worker_env(queue_name, port))

    services.campaign_send_now(campaign=campaign)  # no transaction open: queued at once
    wait_for(lambda: len(sink.messages) >= 60, what="the worker to send some of the campaign")
    doomed.process.kill()
    doomed.process.wait(timeout=10)
    sent_before = len(sink.messages)
    assert sent_before < RECIPIENTS, "the kill came too late to test anything"

    start_worker(env=worker_env(queue_name, port))
    wait_for(
        lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT,
        timeout=180,
        what="the second worker to finish the campaign",
    )

    counts = delivered(sink)
    expected = {subscription.subscriber.email.lower() for subscription in subscriptions}
    # The documented window (docs/newsletter-campaigns.md, "Exactly once, and its one-syscall window"): a kill between
    # a row's commit as sent and the write of its final dot loses that one message. The kill lands at a random point,
    # on a loaded machine sometimes there; anything more than that one is a failure.
    missing = expected - set(counts)
    assert len(missing) <= 1, f"missing: {sorted(missing)[:5]}"
    assert set(counts) <= expected
    assert [address for address, times in counts.items() if times != 1] == []
    assert len(sink.messages) == RECIPIENTS - len(missing)
    statuses = Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == {DeliveryStatus.SENT: RECIPIENTS}
    # The killed worker's batch was delivered again to the second worker, as a new attempt.
    assert TaskRun.objects.filter(task_path="apps.newsletter.tasks.send_campaign_batch", attempts__gt=1).exists()


def test_a_scheduled_campaign_is_started_by_the_worker_at_its_time(
    slow_smtp, queue_name, rearq, start_worker, settings
):
    sink, port = slow_smtp
    settings.NEWSLETTER = {**settings.NEWSLETTER, "QUEUE": queue_name}
    readers = mailing_list_create(name="Readers", slug="readers")
    audience_create(readers, 5)
    campaign = campaign_create(mailing_list=readers)
    start_worker(env=worker_env(queue_name, port))

    services.campaign_schedule(campaign=campaign, at=timezone.now() + timedelta(seconds=2))

    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SCHEDULED
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT, what="the scheduled send")
    assert len(sink.messages) == 5
    started_at = Campaign.objects.get(pk=campaign.pk).started_at
    assert started_at is not None and started_at >= campaign.created_at + timedelta(seconds=2)
