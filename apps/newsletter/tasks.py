"""The newsletter's tasks, on the queue NEWSLETTER["QUEUE"]: a subscription asked for on the public forms, a batch of
a sending campaign (each batch queues the next), the start of a scheduled campaign at its time, and the periodic
catch-up of scheduled campaigns that are due and of sending campaigns that stalled.

Tasks are delivered at least once (a killed worker's task is delivered again): each is safe to run twice, since the
send log and the sender lock of apps.newsletter.sending decide what is sent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.tasks import Task, task, task_backends
from django.tasks.backends.immediate import ImmediateBackend

from apps.newsletter.models import MailingList
from apps.newsletter.selectors.audience import public_lists
from apps.newsletter.sending import due_campaign_ids, send_batch, stalled_campaign_ids, start_if_due
from apps.newsletter.services.audience import Consent, subscribe


def _queued(task_function: Task[Any, Any], *, run_after: datetime | None = None) -> Task[Any, Any]:
    queue = settings.NEWSLETTER["QUEUE"]
    if run_after is not None:
        return task_function.using(queue_name=queue, run_after=run_after)
    return task_function.using(queue_name=queue)


def runs_inline() -> bool:
    """The immediate backend (development without Redis) runs a task inside the call that enqueues it."""
    return isinstance(task_backends[send_campaign_batch.backend], ImmediateBackend)


def supports_deferred() -> bool:
    return bool(task_backends[start_scheduled_campaign.backend].supports_defer)


def enqueue_batch(campaign_id: int) -> None:
    """Queue the campaign's next batch once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _queued(send_campaign_batch).enqueue(campaign_id))


def enqueue_start_at(campaign_id: int, at: datetime) -> None:
    transaction.on_commit(lambda: _queued(start_scheduled_campaign, run_after=at).enqueue(campaign_id))


def subscribe_later(
    *,
    email: str,
    mailing_lists: Iterable[MailingList],
    consent: Consent,
    name: str = "",
    user: AbstractBaseUser | None = None,
) -> None:
    """services.audience.subscribe(), queued for the worker: what the public forms call. The request then does the
    same work whoever the address is (new, known, suppressed), so its timing tells nobody whether the address is on a
    list; done inline, a new address cost three times as long as a known one."""
    _queued(subscribe_address).enqueue(
        email=email,
        name=name,
        mailing_list_ids=[mailing_list.pk for mailing_list in mailing_lists],
        consent=asdict(consent),
        user_id=user.pk if user is not None else None,
    )


@task
def subscribe_address(
    *, email: str, name: str, mailing_list_ids: list[int], consent: dict[str, Any], user_id: Any = None
) -> bool:
    """A subscription asked for on the subscribe page or API (services.audience.subscribe). Lists made private
    since are left out. Safe to run twice: asking twice is what subscribe() already handles."""
    mailing_lists = list(public_lists().filter(pk__in=mailing_list_ids))
    if not mailing_lists:
        return False
    user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
    subscribe(email=email, name=name, mailing_lists=mailing_lists, consent=Consent(**consent), user=user)
    return True


@task
def send_campaign_batch(campaign_id: int) -> dict[str, Any]:
    """One batch, then the next is queued while recipients remain. With the immediate backend the batches run one
    after the other here, rather than each nesting the next."""
    outcome = send_batch(campaign_id=campaign_id)
    totals = dict(outcome.counts)
    while outcome.more and runs_inline():
        outcome = send_batch(campaign_id=campaign_id)
        for status, count in outcome.counts.items():
            totals[status] = totals.get(status, 0) + count
    if outcome.more:
        enqueue_batch(campaign_id)
    return {"campaign": campaign_id, "status": outcome.status, "busy": outcome.busy, "counts": totals}


@task
def start_scheduled_campaign(campaign_id: int) -> bool:
    """Queued for the campaign's scheduled time; does nothing if it was rescheduled, cancelled or already started."""
    started = start_if_due(campaign_id=campaign_id)
    if started:
        enqueue_batch(campaign_id)
    return started


@task
def send_due_campaigns() -> dict[str, int]:
    """For TASKS__PERIODIC (e.g. every minute): starts every scheduled campaign whose time has come (the deferred
    start queued when a campaign is scheduled does the same; this catches any the queue lost), and queues a batch
    again for every sending campaign stalled for NEWSLETTER["STALL_SECONDS"] (sending.stalled_campaign_ids). Such a
    batch ends at once while a sender holds the campaign, so a campaign whose lock a dead database session keeps is
    tried again at each run until the database ends that session."""
    started = [campaign_id for campaign_id in due_campaign_ids() if start_if_due(campaign_id=campaign_id)]
    stalled = stalled_campaign_ids()
    for campaign_id in [*started, *stalled]:
        enqueue_batch(campaign_id)
    return {"started": len(started), "restarted": len(stalled)}
