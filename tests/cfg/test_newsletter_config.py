"""The newsletter section: its queue must be served, and a batch must fit well inside its task's timeout."""

from __future__ import annotations

from .conftest import Project

TEST = {"DJANGO_ENV": "test"}


def test_a_queue_for_campaigns_that_no_worker_serves_stops_loading(project: Project) -> None:
    problems = project.problems({**TEST, "NEWSLETTER__QUEUE": "mail", "TASKS__QUEUES": "default"})

    assert problems == [
        "Invalid configuration: newsletter.queue (from env var NEWSLETTER__QUEUE): 'mail' is not one of the task "
        "queues (default). Fix: add it to TASKS__QUEUES, or set NEWSLETTER__QUEUE to one of them"
    ]


def test_a_batch_longer_than_half_the_task_timeout_stops_loading(project: Project) -> None:
    problems = project.problems({**TEST, "NEWSLETTER__BATCH_SIZE": "5000", "NEWSLETTER__SEND_RATE": "10"})

    assert problems == [
        "Invalid configuration: newsletter.batch_size (from env var NEWSLETTER__BATCH_SIZE): a batch of 5000 at 10 "
        "messages/s takes 500 s, more than half the task timeout (300 s): a batch cut short by the timeout is tried "
        "again while it still sends. Fix: lower NEWSLETTER__BATCH_SIZE, raise NEWSLETTER__SEND_RATE, or raise "
        "TASKS__TIMEOUT"
    ]


def test_the_default_batch_fits_its_task(project: Project) -> None:
    config = project.load(TEST)

    assert config.newsletter.batch_size / config.newsletter.send_rate <= config.tasks.timeout / 2
